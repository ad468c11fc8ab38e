"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select
from sqlalchemy.engine import Connection

from crm import db
from crm.migrate import alembic_config, upgrade_to_head
from crm.models import Base, Lead, StatusChange


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = db.create_engine(database_url)

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        assert await connection.run_sync(differences) == []
    await engine.dispose()


async def test_downgrade_then_upgrade_again(database_url: str) -> None:
    config = alembic_config(database_url)
    engine = db.create_engine(database_url)

    def downgrade(connection: Connection) -> list[str]:
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        return [t for t in inspect(connection).get_table_names() if t != "alembic_version"]

    async with engine.begin() as connection:
        assert await connection.run_sync(downgrade) == []
    await engine.dispose()
    await upgrade_to_head(database_url)
    await upgrade_to_head(database_url)  # idempotent: nothing left to apply

    engine = db.create_engine(database_url)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    await engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= set(tables)


async def test_the_upgrade_to_stays_finds_when_each_stay_began(database_url: str) -> None:
    """0012 fills in the history there is: a stay began at the latest earlier change of status
    (by time, then by id), else when the object was created."""
    config = alembic_config(database_url)
    created = datetime(2026, 10, 1, 9, tzinfo=UTC)
    hour = [created + timedelta(hours=n) for n in range(5)]

    def upgrade_a_history(connection: Connection) -> list[tuple[int, datetime]]:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
        ann, bob = connection.execute(insert(Lead.__table__).returning(Lead.id), [
            {"name": name, "email": f"{name}@x.example", "status": "qualified",
             "created_at": created} for name in ("ann", "bob")]).scalars().all()
        moves = [(ann, "new", "nurturing", hour[1]), (bob, "new", "engaged", hour[2]),
                 (ann, "nurturing", "nurturing", hour[2]), (bob, "engaged", "qualified", hour[2]),
                 (ann, "nurturing", "engaged", hour[3]), (ann, "engaged", "qualified", hour[4])]
        connection.execute(insert(StatusChange.__table__), [
            {"object_type": "lead", "object_id": lead, "from_status": was, "to_status": to,
             "actor": "lead", "changed_at": at} for lead, was, to, at in moves])
        command.upgrade(config, "head")
        return [(row.object_id, row.entered_at) for row in connection.execute(
            select(StatusChange.object_id, StatusChange.entered_at).order_by(StatusChange.id))]

    engine = db.create_engine(database_url)
    async with engine.begin() as connection:
        found = await connection.run_sync(upgrade_a_history)
    await engine.dispose()
    ann, bob = found[0][0], found[1][0]
    assert found == [(ann, created), (bob, created), (ann, hour[1]), (bob, hour[2]),
                     (ann, hour[1]), (ann, hour[3])]
