"""The base every repository shares: a session and the keyring."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Keyring


class _Repository:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring
