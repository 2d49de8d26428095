"""Field encryption (AES-256-GCM) and HMAC blind indexes.

A stored value is `version(1) | key id(4) | nonce(12) | ciphertext+tag`. The associated
data binds it to `table.column.row-uid`, so a value copied to another row or column
fails authentication instead of silently showing one patient's details on another's.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = 1
_HEADER = 1 + 4 + 12


class DecryptionError(Exception):
    """A stored value could not be decrypted: wrong row, tampered, or unknown key."""


@lru_cache(maxsize=64)
def key_id(key: bytes) -> bytes:
    """A short public identifier of a key (never the key itself)."""
    return hmac.new(key, b"sarcoma-referral-bot key id", hashlib.sha256).digest()[:4]


@lru_cache(maxsize=64)
def derive_subkey(master: bytes, purpose: str) -> bytes:
    """A separate key per use, so one leaked use never exposes the others."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master
    )


@lru_cache(maxsize=16)
def _cipher(key: bytes) -> AESGCM:
    # Key schedules are set up once per key, not once per field read.
    return AESGCM(key)


def associated_data(table: str, column: str, row: str) -> bytes:
    """What a ciphertext is bound to."""
    return f"{table}.{column}.{row}".encode()


@dataclass(frozen=True)
class Keyring:
    """The encryption keys (first encrypts, all decrypt) and the index master key."""

    keys: tuple[bytes, ...]
    index_key: bytes

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("at least one encryption key is required")
        for key in self.keys:
            if len(key) != 32:
                raise ValueError("encryption keys must be 32 bytes")

    @classmethod
    def from_keys(cls, keys: Sequence[bytes], index_key: bytes) -> Keyring:
        """Build from decoded keys."""
        return cls(tuple(keys), index_key)

    @property
    def current_id(self) -> bytes:
        """Key id of the key that encrypts."""
        return key_id(self.keys[0])

    def encrypt(self, plaintext: str, aad: bytes) -> bytes:
        """Encrypt text under the first key."""
        return self.encrypt_bytes(plaintext.encode("utf-8"), aad)

    def decrypt(self, blob: bytes, aad: bytes) -> str:
        """Decrypt a value written by `encrypt` under any listed key."""
        return self.decrypt_bytes(blob, aad).decode("utf-8")

    def encrypt_bytes(self, plaintext: bytes, aad: bytes) -> bytes:
        """Encrypt bytes (a file) under the first key; same format as `encrypt`."""
        nonce = os.urandom(12)
        sealed = _cipher(self.keys[0]).encrypt(nonce, plaintext, aad)
        return bytes([VERSION]) + self.current_id + nonce + sealed

    def decrypt_bytes(self, blob: bytes, aad: bytes) -> bytes:
        """Decrypt a value written by `encrypt` or `encrypt_bytes` under any listed key."""
        if len(blob) < _HEADER + 16 or blob[0] != VERSION:
            raise DecryptionError(f"{aad.decode()}: not an encrypted value")
        kid, nonce, sealed = blob[1:5], blob[5:17], blob[17:]
        for key in self.keys:
            if key_id(key) == kid:
                try:
                    return _cipher(key).decrypt(nonce, sealed, aad)
                except InvalidTag:
                    raise DecryptionError(
                        f"{aad.decode()}: authentication failed (value moved from another "
                        "row or column, or tampered with)"
                    ) from None
        raise DecryptionError(f"{aad.decode()}: encrypted under a key not in ENCRYPTION_KEYS")

    def is_current(self, blob: bytes) -> bool:
        """Whether a value is already under the first key."""
        return blob[1:5] == self.current_id

    def blind_index(self, purpose: str, normalised: str) -> bytes:
        """Keyed hash for exact lookups without decrypting every row."""
        subkey = derive_subkey(self.index_key, f"blind-index:{purpose}")
        return hmac.new(subkey, normalised.encode("utf-8"), hashlib.sha256).digest()[:16]

    def subkey(self, purpose: str) -> bytes:
        """Derived key for another use of the index master key (e.g. the audit chain)."""
        return derive_subkey(self.index_key, purpose)


def normalise_digits(text: str) -> str:
    """Keep digits and a leading plus: for NHS numbers and E.164 phone numbers."""
    text = text.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    return ("+" if text.startswith("+") else "") + digits


def normalise_phone(text: str) -> str:
    """E.164 where the number parses (UK by default), so 0118... and +44118... index alike."""
    import phonenumbers

    try:
        number = phonenumbers.parse(text, "GB")
    except phonenumbers.NumberParseException:
        return normalise_digits(text)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(text: str) -> str:
    """Case-fold and NFKC so equal addresses index alike."""
    return unicodedata.normalize("NFKC", text.strip()).casefold()


_current: Keyring | None = None


def install_keyring(keyring: Keyring | None) -> None:
    """Make the keyring available to encrypted model attributes."""
    global _current
    _current = keyring


def current_keyring() -> Keyring:
    """The installed keyring; encrypted attributes cannot work without one."""
    if _current is None:
        raise RuntimeError("no keyring installed: call storage.crypto.install_keyring first")
    return _current
