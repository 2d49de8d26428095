"""Queries and their thread of messages."""

from __future__ import annotations

from storage.models import Query
from storage.repositories._base import _Repository


class QueryRepository(_Repository):
    """Queries and their thread of messages."""

    async def get(self, query_id: int) -> Query | None:
        return await self.session.get(Query, query_id)
