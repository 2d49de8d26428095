"""Exporting the audit log as CSV for governance, checking its chain on the way."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import datetime

from storage.uow import UnitOfWork

COLUMNS = ["id", "at", "actor", "action", "subject", "details", "prev_mac", "mac"]


async def export_csv(
    uow: UnitOfWork,
    write: Callable[[str], object],
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """Write the entries with `since <= at < until` as CSV; returns how many were written.

    The whole chain is verified from its first entry (a later entry's MAC depends on
    every earlier one), and each entry is written only after it is verified, so the
    output never contains an entry past a break: `ChainBroken` is raised there.
    Entries hold references and codes only, never personal data.
    """

    class _Sink:
        def write(self, text: str) -> object:
            return write(text)

    writer = csv.writer(_Sink(), lineterminator="\n")
    writer.writerow(COLUMNS)
    written = 0
    async for entry in uow.audit.verified_entries():
        if since is not None and entry.at < since:
            continue
        if until is not None and entry.at >= until:
            continue
        writer.writerow(
            [
                entry.id,
                entry.at.isoformat(),
                entry.actor,
                entry.action,
                entry.subject,
                entry.details,
                entry.prev_mac,
                entry.mac,
            ]
        )
        written += 1
    return written
