"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from storage.models import Base
from storage.uow import Database


async def test_migrated_schema_matches_the_models(db: Database) -> None:
    def diff(connection):  # type: ignore[no-untyped-def]
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with db.engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db: Database) -> None:
    if db.dialect != "sqlite":
        return
    async with db.engine.connect() as conn:
        mode = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar()
        timeout = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar()
    assert mode == "wal" and int(timeout) >= 5000


async def test_concurrent_sqlite_writers_never_see_database_is_locked(
    tmp_path,
    keyring,
    clock,  # type: ignore[no-untyped-def]
) -> None:
    import asyncio

    from storage.models import Centre

    url = f"sqlite+aiosqlite:///{tmp_path}/busy.db"
    first = Database(url, keyring)
    await first.migrate()
    second = Database(url, keyring)

    async def writer(db: Database, n: int) -> None:
        for i in range(15):
            async with db.uow() as uow:
                # read, then write: the pattern that fails under DEFERRED transactions
                await uow.centres.all()
                uow.centres.add(Centre(id=f"c{n}-{i}", name="Centre", created_at=clock.now()))
                await uow.audit.record(clock.now(), "test", "centre.added", f"c{n}-{i}")
                await uow.commit()

    await asyncio.gather(*(writer(db, n) for n, db in enumerate([first, second] * 4)))
    async with first.uow() as uow:
        assert len(await uow.centres.all()) == 120
        from storage.audit import verify_chain

        assert await verify_chain(uow._session, keyring) == (120, None)
    await first.dispose()
    await second.dispose()
