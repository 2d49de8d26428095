"""Grouped commits of handler transactions and the people cache, on both backends.

Handlers of different users take turns on one transaction, each in a savepoint
(storage.uow.CommitGroup): one failing rolls back only its own work, the update marks
and the audit chain stay right, and nothing is visible (or answered) before the commit.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import func, select, update

from core.clock import FakeClock
from storage.models import AuditEntry, InboundUpdate, Person, PersonStatus, Role
from storage.uow import COMMIT_GROUP, HANDLING_UPDATE, CommitGroup, Database, HandlingUpdate


async def _store_updates(db: Database, ids: list[int], now: datetime) -> None:
    async with db.uow() as uow:
        await uow.inbound.add_new({i: "{}" for i in ids}, now)
        await uow.commit()


async def _status(db: Database, update_id: int) -> str:
    async with db.uow() as uow:
        row = await uow.inbound.get(update_id)
        assert row is not None
        return row.status


async def _handle(
    db: Database, update_id: int, now: datetime, *, fail: bool = False, pause: float = 0
) -> None:
    """What a handler does: one unit of work that audits, writes and commits."""
    token = HANDLING_UPDATE.set(HandlingUpdate(update_id, now))
    try:
        async with db.uow() as uow:
            await uow.audit.record(now, f"person:{update_id}", "case_viewed", f"C-{update_id}")
            uow.people.add(Person(role=Role.REFERRER, name=f"R {update_id}", created_at=now))
            await uow.flush()
            await asyncio.sleep(pause)
            if fail:
                raise RuntimeError("the handler failed")
            await uow.commit()
    finally:
        HANDLING_UPDATE.reset(token)


async def _people(db: Database) -> set[str]:
    async with db.uow() as uow:
        return {p.name or "" for p in await uow.people.by_role(Role.REFERRER)}


async def test_one_failing_member_rolls_back_alone_and_marks_stay_with_their_work(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    await _store_updates(db, [1, 2, 3], now)
    group = CommitGroup(db)
    token = COMMIT_GROUP.set(group)
    try:
        outcomes = await asyncio.gather(
            _handle(db, 1, now, pause=0.05),
            _handle(db, 2, now, fail=True),
            _handle(db, 3, now),
            return_exceptions=True,
        )
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    assert isinstance(outcomes[1], RuntimeError) and outcomes[0] is None and outcomes[2] is None
    assert await _people(db) == {"R 1", "R 3"}
    assert [await _status(db, i) for i in (1, 2, 3)] == ["done", "pending", "done"]
    assert group.commits == 1 and group.members == 3  # three turns, one commit
    async with db.uow() as uow:
        entries, problem = await uow.audit.verify()
        subjects = (await uow._session.scalars(select(AuditEntry.subject))).all()
    assert problem is None and entries == 2 and sorted(subjects) == ["C-1", "C-3"]


async def test_a_member_returns_only_once_the_group_committed(
    db: Database, clock: FakeClock
) -> None:
    """The first member finishes while others wait for their turn: it must not return
    (and so not answer its user) before the commit that makes its work durable."""
    now = clock.now()
    await _store_updates(db, [11, 12], now)
    group = CommitGroup(db)
    token = COMMIT_GROUP.set(group)
    seen_when_first_returned: list[str] = []

    async def first() -> None:
        await _handle(db, 11, now)
        seen_when_first_returned.append(await _status_outside(db, 11))

    try:
        await asyncio.gather(first(), _handle(db, 12, now, pause=0.1))
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    assert seen_when_first_returned == ["done"]
    assert group.commits == 1


async def _status_outside(db: Database, update_id: int) -> str:
    """The update's status as a unit of work outside any group sees it."""
    token = COMMIT_GROUP.set(None)
    try:
        return await _status(db, update_id)
    finally:
        COMMIT_GROUP.reset(token)


async def test_a_lone_member_commits_at_once(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    await _store_updates(db, [21, 22], now)
    group = CommitGroup(db)
    token = COMMIT_GROUP.set(group)
    try:
        await _handle(db, 21, now)
        assert await _status_outside(db, 21) == "done"
        await _handle(db, 22, now)
        assert await _status_outside(db, 22) == "done"
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    assert group.commits == 2


async def test_cancelled_members_leave_nothing_behind(db: Database, clock: FakeClock) -> None:
    """A stop cancels handlers mid-way: their work is rolled back, the updates stay
    pending, and the database is free for the next holder."""
    now = clock.now()
    await _store_updates(db, [31, 32], now)
    group = CommitGroup(db)
    token = COMMIT_GROUP.set(group)
    try:
        tasks = [
            asyncio.create_task(_handle(db, 31, now, pause=5)),
            asyncio.create_task(_handle(db, 32, now)),
        ]
        await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    assert [await _status(db, i) for i in (31, 32)] == ["pending", "pending"]
    assert await _people(db) == set()
    await _handle(db, 31, now)  # not in a group: the database is not left locked
    assert await _status(db, 31) == "done"


async def _referrer(db: Database, telegram_id: int, now: datetime) -> int:
    async with db.uow() as uow:
        person = Person(
            role=Role.REFERRER, name="Dr Cached", telegram_user_id=telegram_id, created_at=now
        )
        uow.people.add(person)
        await uow.commit()
        return person.id


async def _who(db: Database, group: CommitGroup, telegram_id: int) -> Person | None:
    token = COMMIT_GROUP.set(group)
    try:
        async with db.uow() as uow:
            return await uow.people.by_telegram_id(telegram_id)
    finally:
        COMMIT_GROUP.reset(token)


async def test_people_cache_sees_this_process_at_once_and_others_from_the_next_batch(
    db: Database, database_url: dict, clock: FakeClock
) -> None:
    now = clock.now()
    person_id = await _referrer(db, 5_000_001, now)
    group = CommitGroup(db)
    async with db.uow() as uow:
        db.people.check(await uow.people.generation())
    first = await _who(db, group, 5_000_001)
    assert first is not None and first.status == PersonStatus.ACTIVE
    hits = db.people.hits
    again = await _who(db, group, 5_000_001)
    assert again is not None and db.people.hits == hits + 1  # from the cache, no SELECT

    # Changed by this process (any statement): the very next read sees it.
    async with db.uow() as uow:
        await uow._session.execute(
            update(Person).where(Person.id == person_id).values(status=PersonStatus.SUSPENDED)
        )
        await uow.commit()
    changed = await _who(db, group, 5_000_001)
    assert changed is not None and changed.status == PersonStatus.SUSPENDED

    # Changed by another process: seen once the intake checks before its next batch.
    other = Database(database_url["url"], db.keyring, **database_url["engine_kwargs"])
    try:
        async with other.uow() as uow:
            person = await uow.people.get(person_id)
            assert person is not None
            person.status = PersonStatus.ACTIVE
            await uow.commit()
    finally:
        await other.dispose()
    async with db.uow() as uow:
        db.people.check(await uow.people.generation())
    back = await _who(db, group, 5_000_001)
    assert back is not None and back.status == PersonStatus.ACTIVE


async def test_people_cache_forgets_a_person_whose_creation_was_rolled_back(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    group = CommitGroup(db)
    token = COMMIT_GROUP.set(group)
    try:
        with pytest.raises(RuntimeError):
            async with db.uow() as uow:
                uow.people.add(
                    Person(role=Role.REFERRER, telegram_user_id=5_000_002, created_at=now)
                )
                await uow.flush()
                assert await uow.people.by_telegram_id(5_000_002) is not None  # cached
                raise RuntimeError("registration failed")
        async with db.uow() as uow:
            assert await uow.people.by_telegram_id(5_000_002) is None
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    async with db.uow() as uow:
        count = await uow._session.scalar(select(func.count()).select_from(InboundUpdate))
    assert count == 0


async def test_a_cached_person_never_overwrites_changes_not_yet_written(
    db: Database, clock: FakeClock
) -> None:
    """A handler changes the caller (e.g. reachable again) and then looks the same person
    up by id (the named clinician of the case is the caller): the change must stand."""
    now = clock.now()
    person_id = await _referrer(db, 5_000_003, now)
    group = CommitGroup(db)
    await _who(db, group, 5_000_003)  # now cached
    token = COMMIT_GROUP.set(group)
    try:
        async with db.uow() as uow:
            me = await uow.people.by_telegram_id(5_000_003)
            assert me is not None
            me.reachable = False
            again = await uow.people.get(person_id)
            assert again is me and again.reachable is False
            await uow.commit()
    finally:
        COMMIT_GROUP.reset(token)
        await group.close()
    async with db.uow() as uow:
        stored = await uow.people.get(person_id)
        assert stored is not None and stored.reachable is False
