"""Plain SQL on the CRM database: asyncpg for PostgreSQL, sqlite3 (in a thread) for SQLite.

Statements are written once with ``$1, $2…`` placeholders; SQLite reads them as ``?1, ?2…``.
A write transaction on SQLite takes the write lock at once (``BEGIN IMMEDIATE``) and waits
for it up to 30 s, as crmflow's writers do.
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

_PLACEHOLDER = re.compile(r"\$(\d+)")


@functools.lru_cache(maxsize=128)
def _for_sqlite(sql: str) -> str:
    return _PLACEHOLDER.sub(r"?\1", sql)


class Transaction(Protocol):
    async def execute(self, sql: str, *args: Any) -> None: ...
    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None: ...
    async def fetchval(self, sql: str, *args: Any) -> Any: ...
    async def fetchall(self, sql: str, *args: Any) -> list[Sequence[Any]]: ...


class Database(Protocol):
    sqlite: bool

    def transaction(self) -> Any: ...
    def now(self) -> Any: ...
    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None: ...
    async def close(self) -> None: ...


async def connect(url: str, *, pool: int = 10) -> Database:
    """``postgresql[+driver]://…`` or ``sqlite[+driver]:///path`` (as CRMFLOW_DATABASE_URL)."""
    scheme, _, rest = url.partition("://")
    if scheme.startswith("sqlite"):
        return SQLite(rest.removeprefix("/"))
    return Postgres(await asyncpg.create_pool(f"postgresql://{rest}", min_size=1,
                                              max_size=pool))


class Postgres:
    sqlite = False

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.pool.acquire() as connection, connection.transaction():
            yield _PgTransaction(connection)

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None:
        return await self.pool.fetchrow(sql, *args)

    async def close(self) -> None:
        await self.pool.close()


class _PgTransaction:
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.c = connection

    async def execute(self, sql: str, *args: Any) -> None:
        await self.c.execute(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None:
        return await self.c.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.c.fetchval(sql, *args)

    async def fetchall(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return list(await self.c.fetch(sql, *args))


class SQLite:
    """One connection per process, its transactions one at a time (SQLite has one writer).

    Taking the write lock (it may wait for another process) and committing (it syncs the
    file) run in a thread; the statements between, with the lock held, take microseconds
    and run on the event loop."""

    sqlite = True

    def __init__(self, path: str) -> None:
        self.connection = sqlite3.connect(path, timeout=30, isolation_level=None,
                                          check_same_thread=False)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.turn = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self.turn:
            await asyncio.to_thread(self.connection.execute, "BEGIN IMMEDIATE")
            try:
                yield _SqliteTransaction(self.connection)
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            await asyncio.to_thread(self.connection.execute, "COMMIT")

    def now(self) -> str:
        return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None:
        """A read outside any write transaction (WAL: it waits for no writer)."""
        return self.connection.execute(_for_sqlite(sql), args).fetchone()

    async def close(self) -> None:
        self.connection.close()


class _SqliteTransaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.c = connection

    async def execute(self, sql: str, *args: Any) -> None:
        self.c.execute(_for_sqlite(sql), args)

    async def fetchrow(self, sql: str, *args: Any) -> Sequence[Any] | None:
        return self.c.execute(_for_sqlite(sql), args).fetchone()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def fetchall(self, sql: str, *args: Any) -> list[Sequence[Any]]:
        return self.c.execute(_for_sqlite(sql), args).fetchall()
