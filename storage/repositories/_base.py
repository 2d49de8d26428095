"""The base every repository shares: a session and the keyring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.crypto import Keyring


class _Repository:
    def __init__(self, session: AsyncSession, keyring: Keyring) -> None:
        self.session = session
        self.keyring = keyring

    async def _ids(self, statement: Select[Any]) -> list[int]:
        """The ids a one-column select returns, as a list."""
        return list((await self.session.scalars(statement)).all())

    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"


def rowcount(result: object) -> int:
    """Rows an UPDATE or DELETE changed (0 when the driver does not say)."""
    return int(getattr(result, "rowcount", 0) or 0)
