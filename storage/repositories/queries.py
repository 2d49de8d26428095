"""Queries and their thread of messages."""

from __future__ import annotations

from storage.repositories._base import _Repository


class QueryRepository(_Repository):
    """Queries and their thread of messages."""
