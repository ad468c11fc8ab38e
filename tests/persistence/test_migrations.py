"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from crm import db
from crm.migrate import alembic_config, upgrade_to_head
from crm.models import Base


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
