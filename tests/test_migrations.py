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


async def test_attachments_migration_goes_down_and_up_again(db: Database) -> None:
    """0005 (attachments) is reversible on both backends, and the schema still matches."""
    from alembic import command
    from sqlalchemy import inspect

    from storage.database import alembic_config, migrate

    def tables(connection):  # type: ignore[no-untyped-def]
        return set(inspect(connection).get_table_names())

    def downgrade(connection):  # type: ignore[no-untyped-def]
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")

    async with db.engine.begin() as conn:
        assert "attachments" in await conn.run_sync(tables)
        await conn.run_sync(downgrade)
    async with db.engine.connect() as conn:
        assert "attachments" not in await conn.run_sync(tables)
    await migrate(db.engine)
    async with db.engine.connect() as conn:
        assert "attachments" in await conn.run_sync(tables)

        def diff(connection):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)

        assert await conn.run_sync(diff) == []
