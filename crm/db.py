"""Engine and sessions for the CRM database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import weakref
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

Sessions = async_sessionmaker[AsyncSession]

READ_ONLY = "crm_read_only"
"""Execution option marking an engine whose transactions only read (see ``create_sessions``)."""
WRITE_LOCK_TIMEOUT = 30.0
"""SQLite: how long a transaction that writes waits for its turn and the write lock, at most."""
WRITE_LOCK_LOOK_MS = 10
"""SQLite: how long one look for the write lock lasts (its busy timeout: within it SQLite
looks again after 1, 2 and 5 ms); the next look follows at once."""


def create_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, enforced foreign keys and writers that take turns
    at its write lock (``_WriterTurns``); PostgreSQL gets deadlines, so a hung server is an
    error, not a hung caller."""
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
        cursor.execute(f"PRAGMA busy_timeout={WRITE_LOCK_LOOK_MS}")
        cursor.close()

    turns = _WRITER_TURNS[engine.sync_engine] = _WriterTurns()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin_immediate_on_write(conn: Connection) -> None:
        # SQLite upgrades a read transaction to a write lazily and then fails with
        # "database is locked" instead of waiting; taking the write lock up front
        # makes concurrent writers (API and worker) wait for it instead.
        # A transaction that only reads must not queue behind writers (WAL lets it
        # read alongside them), so it begins deferred.
        if conn.get_execution_options().get(READ_ONLY, False):
            conn.exec_driver_sql("BEGIN")
        else:
            turns.begin_immediate(conn)

    for name in ("commit", "rollback"):  # (an invalidated connection has ended its turn)
        event.listen(engine.sync_engine, name,
                     lambda conn: None if conn.invalidated else turns.end(conn.info))
    for name in ("checkin", "invalidate", "close"):  # a connection given back or dropped
        event.listen(engine.sync_engine.pool, name,
                     lambda _dbapi, record, *_: turns.end(record.info) if record else None)
    return engine


class _WriterTurns:
    """SQLite: this process's transactions that write take the write lock in the order they
    asked for it, one at a time, and the one whose turn it is looks for it every few
    milliseconds.

    SQLite lets one transaction write at a time, and its own busy handler makes the others
    sleep longer and longer between looks (up to 100 ms each after the first 50 ms), while a
    writer that has just begun looks again after 1 ms: under load (the API's processes and
    the worker's activities all writing) a writer that had waited a while kept losing the
    lock to newer ones, and some answers took seconds while most took a few hundred ms.
    Here the writers of a process queue first in order, on the event loop, and only the one
    at the head looks, after 1, 2 and 5 ms and then every ``WRITE_LOCK_LOOK_MS``; so across
    processes a handful of heads compete, each looking as often. A turn is held exactly as
    long as SQLite's write lock (from ``BEGIN IMMEDIATE`` to the commit or rollback, or the
    connection's return to the pool), so the queue adds no wait SQLite would not impose."""

    KEY = "crm_writer_turn"
    """Where a connection holding a turn keeps it (its pool record's ``info``)."""

    def __init__(self) -> None:
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary())
        self.asking = 0
        """Writers that asked for the write lock and have not got it (or given up) yet."""

    def begin_immediate(self, conn: Connection) -> None:
        """Wait for this process's turn, then for SQLite's write lock; runs in SQLAlchemy's
        greenlet, so it waits on the event loop, never holding the connection's thread."""
        give_up = time.monotonic() + WRITE_LOCK_TIMEOUT
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop) or self._turns.setdefault(loop, asyncio.Lock())
        self.asking += 1
        try:
            await_only(_acquire(turn, WRITE_LOCK_TIMEOUT))
            try:
                while True:
                    try:
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                        break
                    except OperationalError as error:
                        if not _busy(error.orig) or time.monotonic() >= give_up:
                            raise
            except BaseException:
                turn.release()
                raise
        finally:
            self.asking -= 1
        # Only now: a look that failed ends in a rollback, which must not end the turn.
        conn.info[self.KEY] = turn

    def end(self, info: MutableMapping[Any, Any]) -> None:
        turn = info.pop(self.KEY, None)
        if turn is not None and turn.locked():
            turn.release()


_WRITER_TURNS: weakref.WeakKeyDictionary[Engine, _WriterTurns] = weakref.WeakKeyDictionary()
"""Each SQLite engine's writer turns."""


def writers_asking(engine: AsyncEngine) -> int:
    """SQLite: how many of the engine's writers wait for the write lock (their turn, or
    SQLite's lock in their turn) right now."""
    return _WRITER_TURNS[engine.sync_engine].asking


async def _acquire(turn: asyncio.Lock, timeout: float) -> None:
    try:
        async with asyncio.timeout(timeout):
            await turn.acquire()
    except TimeoutError:
        raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError(
            f"database is locked: no turn to write within {timeout:.0f} s")) from None


def _busy(orig: BaseException | None) -> bool:
    """SQLite's "database is locked": another connection holds the write lock."""
    code = getattr(orig, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF == sqlite3.SQLITE_BUSY


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
