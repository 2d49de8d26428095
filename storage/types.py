"""Column types and the encrypted-attribute descriptor shared by the models."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator

from storage.crypto import associated_data, current_keyring


def new_uid() -> str:
    """Random row identifier that exists before the row is inserted (bound into AAD)."""
    return secrets.token_hex(16)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class EncryptedField:
    """What every encrypted attribute shares: the `<name>_enc` column, the associated
    data (`table.attribute.row-uid`) and re-encryption under the first key."""

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _aad(self, obj: Any) -> bytes:
        return associated_data(obj.__tablename__, self.name, obj.uid)

    def reencrypt(self, obj: Any) -> bool:
        """Re-encrypt under the first key; True when the value changed."""
        blob = getattr(obj, f"{self.name}_enc")
        keyring = current_keyring()
        if blob is None or keyring.is_current(blob):
            return False
        plaintext = keyring.decrypt_bytes(blob, self._aad(obj))
        setattr(obj, f"{self.name}_enc", keyring.encrypt_bytes(plaintext, self._aad(obj)))
        return True


class Encrypted(EncryptedField):
    """A plaintext attribute stored encrypted in `<name>_enc`, optionally blind-indexed.

    With `index=` set, assigning a value also writes `<name>_index`, the keyed hash of
    the normalised value, so lookups never need to decrypt.
    """

    def __init__(
        self, *, index: str | None = None, normalise: Callable[[str], str] | None = None
    ) -> None:
        super().__init__()
        self.index = index
        self.normalise = normalise or (lambda text: text)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        blob = getattr(obj, f"{self.name}_enc")
        if blob is None:
            return None
        return current_keyring().decrypt(blob, self._aad(obj))

    def __set__(self, obj: Any, value: str | None) -> None:
        keyring = current_keyring()
        if value is None:
            setattr(obj, f"{self.name}_enc", None)
        else:
            setattr(obj, f"{self.name}_enc", keyring.encrypt(value, self._aad(obj)))
        if self.index:
            digest = (
                None if value is None else keyring.blind_index(self.index, self.normalise(value))
            )
            setattr(obj, f"{self.name}_index", digest)


class EncryptedBytes(EncryptedField):
    """Bytes (a file) stored encrypted in `<name>_enc`, bound to the row like text is.

    Reading needs the column loaded: a large blob's column is deferred, and its
    repository reads it on purpose (see `AttachmentRepository.content`).
    """

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return self.open(obj, getattr(obj, f"{self.name}_enc"))

    def __set__(self, obj: Any, value: bytes | None) -> None:
        blob = None if value is None else current_keyring().encrypt_bytes(value, self._aad(obj))
        setattr(obj, f"{self.name}_enc", blob)

    def open(self, obj: Any, blob: bytes | None) -> bytes | None:
        """Decrypt this attribute's ciphertext of `obj` read separately from the row."""
        if blob is None:
            return None
        return current_keyring().decrypt_bytes(blob, self._aad(obj))


def encrypted_fields(model: type) -> list[EncryptedField]:
    """Every encrypted attribute declared on a model class."""
    return [v for v in vars(model).values() if isinstance(v, EncryptedField)]
