"""`referral-bot purge` as an operator runs it: counts printed, bodies gone, audit intact."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from storage.audit import verify_chain
from storage.crypto import Keyring
from storage.models import AuditEntry, Case, Person, Role, ThreadMessage
from storage.uow import Database
from tests.processes import fresh_key
from tests.test_cli import cli


def _keyring(env: dict[str, str]) -> Keyring:
    decode = base64.urlsafe_b64decode
    return Keyring((decode(env["ENCRYPTION_KEYS"]),), decode(env["INDEX_KEY"]))


async def _closed_case(url: str, keyring: Keyring, closed: datetime) -> None:
    db = Database(url, keyring)
    await db.migrate()
    async with db.uow() as uow:
        referrer = Person(role=Role.REFERRER, name="Dr Referrer", created_at=closed)
        uow.people.add(referrer)
        await uow.flush()
        for n, closed_at in enumerate((closed, datetime.now(UTC) - timedelta(days=10))):
            case = Case(
                referrer_id=referrer.id,
                nhs_number="9434765919",
                date_of_birth="1970-05-04",
                site="Left thigh",
                summary="Summary text",
                tumour_type="soft_tissue",
                urgency="routine",
                status="closed",
                created_at=closed_at - timedelta(days=100 + n),
                closed_at=closed_at,
            )
            uow._session.add(case)
            await uow.flush()
            uow._session.add(
                ThreadMessage(case_id=case.id, body="A message body", created_at=closed_at)
            )
            await uow.attachments.add(
                case_id=case.id,
                uploaded_by_id=referrer.id,
                kind="pdf",
                content=b"%PDF-1.7 an imaging report",
                caption="MRI report",
                now=closed_at,
            )
        await uow.audit.record(closed, "test", "case.closed", "C-1")
        await uow.commit()
    await db.dispose()


async def _state(url: str, keyring: Keyring) -> tuple[list[str | None], list[str | None], int]:
    db = Database(url, keyring)
    async with db.uow() as uow:
        bodies = [m.body for m in (await uow._session.scalars(select(ThreadMessage))).all()]
        files = [
            (a.case_id, a.caption, await uow.attachments.content(a), a.size)
            for case_id in (1, 2)
            for a in await uow.attachments.of_case(case_id)
        ]
        # Run after a purge: the old closed case's file is gone but its row (size, hash)
        # stays; the recently closed case's file is kept whole.
        report = b"%PDF-1.7 an imaging report"
        assert files == [(1, None, None, len(report)), (2, "MRI report", report, len(report))]
        sites = [c.site for c in (await uow._session.scalars(select(Case).order_by(Case.id))).all()]
        count, problem = await verify_chain(uow._session, keyring)
        assert problem is None
        actions = (await uow._session.scalars(select(AuditEntry.action))).all()
        assert actions[-1] == "retention.purged"
    await db.dispose()
    return bodies, sites, count


def test_purge_via_cli_clears_old_closed_cases_only(tmp_path: Path) -> None:
    env = {
        "ENCRYPTION_KEYS": fresh_key(),
        "INDEX_KEY": fresh_key(),
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        "RETENTION_DAYS": "2922",
    }
    keyring = _keyring(env)
    nine_years_ago = datetime.now(UTC) - timedelta(days=9 * 365)
    asyncio.run(_closed_case(env["DATABASE_URL"], keyring, nine_years_ago))
    result = cli("purge", cwd=tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert "retention: 2922 days" in result.stdout
    assert "cases: 1" in result.stdout and "thread messages: 1" in result.stdout
    assert "attachments: 1" in result.stdout
    bodies, sites, count = asyncio.run(_state(env["DATABASE_URL"], keyring))
    assert sorted(bodies, key=str) == ["A message body", None]
    assert sites == [None, "Left thigh"]
    again = cli("purge", cwd=tmp_path, **env)
    assert again.returncode == 0 and "cases: 0" in again.stdout
    assert "attachments: 0" in again.stdout
    assert asyncio.run(_state(env["DATABASE_URL"], keyring))[2] == count + 1
    assert "audit chain intact" in cli("audit", "verify", cwd=tmp_path, **env).stdout
