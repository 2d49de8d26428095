"""Encryption at rest, blind indexes, key rotation and the audit chain, on both backends."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text, update

from core.clock import FakeClock
from storage.audit import verify_chain
from storage.crypto import DecryptionError, Keyring
from storage.models import AuditEntry, Case, Person, ReferrerDetails, Role
from storage.rotation import rotate_keys
from storage.uow import Database

NHS = "943 476 5919"
NAME = "Dr Siobhán O'Brien & <Sons>"
MOBILE = "+447911123456"
EMAIL = "siobhan.obrien@nhs.net"
SUMMARY = "Enlarging painless thigh mass, 6 cm, deep to fascia"


async def _seed(db: Database, clock: FakeClock) -> tuple[int, int]:
    async with db.uow() as uow:
        person = Person(
            role=Role.REFERRER,
            name=NAME,
            phone="+441865738000",
            email=EMAIL,
            created_at=clock.now(),
        )
        uow.people.add(person)
        await uow.flush()
        uow.people.add_details(
            ReferrerDetails(person_id=person.id, job_title="Consultant", mobile=MOBILE, fax=None)
        )
        case = Case(
            referrer_id=person.id,
            nhs_number=NHS,
            date_of_birth="1970-05-04",
            site="Left thigh",
            summary=SUMMARY,
            tumour_type="soft_tissue",
            urgency="urgent",
            created_at=clock.now(),
        )
        uow._session.add(case)
        await uow.flush()
        for n in range(3):
            await uow.audit.record(clock.now(), person.ref, f"test.event{n}", case.ref)
        await uow.commit()
        return person.id, case.id


async def test_round_trip_and_blind_index_lookup(db: Database, clock: FakeClock) -> None:
    person_id, case_id = await _seed(db, clock)
    async with db.uow() as uow:
        person = await uow.people.get(person_id)
        assert person is not None and person.name == NAME and person.email == EMAIL
        found = await uow.people.by_phone("01865 738000".replace("0", "+44", 1))
        assert [p.id for p in found] == [person_id]
        assert [p.id for p in await uow.people.by_email("Siobhan.OBrien@NHS.net ")] == [person_id]
        digest = db.keyring.blind_index("nhs", "9434765919")
        case = await uow._session.scalar(select(Case).where(Case.nhs_number_index == digest))
        assert case is not None and case.id == case_id and case.summary == SUMMARY


async def test_sqlite_file_holds_no_personal_value_in_clear(
    tmp_path: Path, keyring: Keyring, clock: FakeClock
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/raw.db", keyring)
    await db.migrate()
    await _seed(db, clock)
    await db.dispose()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("raw.db"))
    assert len(raw) > 10_000
    for secret in (
        NAME,
        "O'Brien",
        MOBILE,
        "7911123456",
        EMAIL,
        "9434765919",
        NHS,
        SUMMARY,
        "Left thigh",
        "1970-05-04",
        "Consultant",
    ):
        for encoding in ("utf-8", "utf-16-le"):
            assert secret.encode(encoding) not in raw, secret


async def test_postgres_dump_holds_no_personal_value(db: Database, clock: FakeClock) -> None:
    await _seed(db, clock)
    async with db.uow() as uow:
        tables = ["people", "referrer_details", "cases", "audit_log"]
        dump = ""
        for table in tables:
            rows = (await uow._session.execute(text(f"SELECT * FROM {table}"))).all()
            dump += repr(rows)
    for secret in (NAME, MOBILE, EMAIL, "9434765919", SUMMARY, "Left thigh"):
        assert secret not in dump


async def test_ciphertext_copied_to_another_row_is_refused(db: Database, clock: FakeClock) -> None:
    person_id, _ = await _seed(db, clock)
    async with db.uow() as uow:
        other = Person(role=Role.REFERRER, name="Dr Other", created_at=clock.now())
        uow.people.add(other)
        await uow.commit()
        other_id = other.id
    async with db.uow() as uow:
        await uow._session.execute(
            update(Person)
            .where(Person.id == other_id)
            .values(
                name_enc=select(Person.name_enc).where(Person.id == person_id).scalar_subquery()
            )
        )
        await uow.commit()
    async with db.uow() as uow:
        victim = await uow.people.get(other_id)
        assert victim is not None
        with pytest.raises(DecryptionError, match=r"people\.name\..*authentication failed"):
            _ = victim.name
        # ...and into another column of the same row.
        original = await uow.people.get(person_id)
        assert original is not None and original.phone_enc is not None
        original.email_enc = original.phone_enc
        with pytest.raises(DecryptionError, match=r"people\.email\."):
            _ = original.email


async def test_keys_rotate_then_read_with_only_the_new_key(
    database_url: dict, keyring: Keyring, clock: FakeClock
) -> None:
    old = Database(database_url["url"], keyring, **database_url["engine_kwargs"])
    await old.migrate()
    person_id, case_id = await _seed(old, clock)
    await old.dispose()

    new_key = secrets.token_bytes(32)
    both = Database(
        database_url["url"],
        Keyring((new_key, *keyring.keys), keyring.index_key),
        **database_url["engine_kwargs"],
    )
    # An interrupted rotation (one tiny batch) resumes where it stopped.
    first = await rotate_keys(both, batch=1)
    again = await rotate_keys(both)
    assert first.values_reencrypted >= 9 and again.values_reencrypted == 0
    await both.dispose()

    only_new = Database(
        database_url["url"], Keyring((new_key,), keyring.index_key), **database_url["engine_kwargs"]
    )
    try:
        async with only_new.uow() as uow:
            person = await uow.people.get(person_id)
            details = await uow.people.referrer_details(person_id)
            case = await uow._session.get(Case, case_id)
            assert person and details and case
            assert (person.name, person.email, details.mobile) == (NAME, EMAIL, MOBILE)
            assert (case.nhs_number, case.summary) == (NHS, SUMMARY)
            count, problem = await verify_chain(uow._session, only_new.keyring)
            assert (count, problem) == (3, None)
    finally:
        await only_new.dispose()


async def test_reading_without_the_old_key_fails_clearly(
    database_url: dict, keyring: Keyring, clock: FakeClock
) -> None:
    db = Database(database_url["url"], keyring, **database_url["engine_kwargs"])
    await db.migrate()
    person_id, _ = await _seed(db, clock)
    await db.dispose()
    stranger = Database(
        database_url["url"],
        Keyring((secrets.token_bytes(32),), keyring.index_key),
        **database_url["engine_kwargs"],
    )
    try:
        async with stranger.uow() as uow:
            person = await uow.people.get(person_id)
            with pytest.raises(DecryptionError, match="not in ENCRYPTION_KEYS"):
                _ = person.name  # type: ignore[union-attr]
    finally:
        await stranger.dispose()


async def _chain(db: Database, clock: FakeClock, n: int = 6) -> None:
    async with db.uow() as uow:
        for i in range(n):
            clock.advance(timedelta(seconds=1))
            await uow.audit.record(clock.now(), "cli", "test.event", f"C-{i}", n=i)
        await uow.commit()


async def _verify(db: Database):  # type: ignore[no-untyped-def]
    async with db.uow() as uow:
        return await verify_chain(uow._session, db.keyring)


async def test_audit_chain_intact(db: Database, clock: FakeClock) -> None:
    await _chain(db, clock)
    assert await _verify(db) == (6, None)


async def test_audit_verify_catches_an_edited_row(db: Database, clock: FakeClock) -> None:
    await _chain(db, clock)
    async with db.uow() as uow:
        await uow._session.execute(
            update(AuditEntry).where(AuditEntry.id == 3).values(subject="C-99")
        )
        await uow.commit()
    _count, problem = await _verify(db)
    assert problem is not None and problem.entry_id == 3 and "edited" in problem.reason


async def test_audit_verify_catches_a_deleted_row(db: Database, clock: FakeClock) -> None:
    await _chain(db, clock)
    async with db.uow() as uow:
        await uow._session.execute(text("DELETE FROM audit_log WHERE id = 4"))
        await uow.commit()
    count, problem = await _verify(db)
    assert count == 3 and problem is not None and problem.entry_id == 5
    assert "entry 4 is missing" in problem.reason


async def test_audit_verify_catches_swapped_rows(db: Database, clock: FakeClock) -> None:
    await _chain(db, clock)
    async with db.uow() as uow:
        rows = {
            e.id: e
            for e in (
                await uow._session.scalars(select(AuditEntry).where(AuditEntry.id.in_([2, 3])))
            ).all()
        }
        fields = ("at", "actor", "action", "subject", "details", "prev_mac", "mac")
        two = {f: getattr(rows[2], f) for f in fields}
        three = {f: getattr(rows[3], f) for f in fields}
        await uow._session.execute(update(AuditEntry).where(AuditEntry.id == 2).values(**three))
        await uow._session.execute(update(AuditEntry).where(AuditEntry.id == 3).values(**two))
        await uow.commit()
    count, problem = await _verify(db)
    assert count == 1 and problem is not None and problem.entry_id == 2


async def test_audit_chain_cannot_be_rebuilt_without_the_index_key(
    db: Database, clock: FakeClock
) -> None:
    await _chain(db, clock)
    forger = Keyring(db.keyring.keys, secrets.token_bytes(32))
    async with db.uow() as uow:
        _count, problem = await verify_chain(uow._session, forger)
    assert problem is not None and problem.entry_id == 1
