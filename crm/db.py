"""Engine and sessions for the CRM database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

Sessions = async_sessionmaker[AsyncSession]

READ_ONLY = "crm_read_only"
"""Execution option marking an engine whose transactions only read (see ``create_sessions``)."""


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout and enforced foreign keys;
    PostgreSQL gets deadlines, so a hung server is an error, not a hung caller."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        kwargs.setdefault("pool_timeout", 10)
        kwargs.setdefault("connect_args", {"timeout": 10, "command_timeout": 30})
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "do_connect", _unreachable_is_operational_error)
        return engine

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs.setdefault("connect_args", {"timeout": 30})
    engine = create_async_engine(url, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate_on_write(conn: Any) -> None:
        # SQLite upgrades a read transaction to a write lazily and then fails with
        # "database is locked" instead of waiting; taking the write lock up front
        # makes concurrent writers (API and worker) queue on busy_timeout instead.
        # A transaction that only reads must not queue behind writers (WAL lets it
        # read alongside them), so it begins deferred.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _unreachable_is_operational_error(
    dialect: Dialect, _record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> Any:
    # asyncpg lets socket errors (refused, reset, timed out) escape as bare OSErrors,
    # which SQLAlchemy passes on unwrapped; as the DBAPI's OperationalError they become
    # sqlalchemy.exc.OperationalError, as with every other driver.
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        raise dialect.loaded_dbapi.OperationalError(
            f"cannot reach the database server: {type(error).__name__}: {error}", error
        ) from error


def create_sessions(engine: AsyncEngine, *, read_only: bool = False) -> Sessions:
    """Sessions on the engine; ``read_only`` ones must only read, and on SQLite they then
    never wait for a writer's lock."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return async_sessionmaker(bind, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A session whose work is committed at the end of the block, or rolled back on error."""
    async with sessions() as session, session.begin():
        yield session
