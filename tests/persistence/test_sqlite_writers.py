"""SQLite: the writers of one process take the write lock in the order they asked for it
(``crm.db._WriterTurns``), however long another process holds it; a turn is given back however
its transaction ends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from crm import db
from tests.waiting import eventually

WRITERS = 8


@pytest.fixture
async def engines(tmp_path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """This process's engine and another process's, on one new SQLite file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}"
    ours, theirs = db.create_engine(url), db.create_engine(url)
    async with db.unit_of_work(db.create_sessions(ours)) as session:
        await session.execute(text("CREATE TABLE written (writer INTEGER)"))
    yield ours, theirs
    await ours.dispose()
    await theirs.dispose()


async def write(engine: AsyncEngine, writer: int, *, holding: asyncio.Event | None = None,
                until: asyncio.Event | None = None, fail: bool = False) -> None:
    """One transaction writing ``writer``; with ``holding``, it says when it holds the write
    lock and keeps it ``until`` told."""
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        await session.execute(text("INSERT INTO written VALUES (:w)"), {"w": writer})
        if holding is not None and until is not None:
            holding.set()
            await until.wait()
        if fail:
            raise ValueError("the transaction's own error")


async def holder(engine: AsyncEngine, writer: int) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A writer holding SQLite's write lock; set the event to let it commit."""
    holding, release = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(write(engine, writer, holding=holding, until=release))
    await holding.wait()
    return task, release


async def asking(engine: AsyncEngine, count: int) -> None:
    """Until ``count`` of the engine's writers wait for the write lock."""
    await eventually(lambda: db.writers_asking(engine) == count, timeout=5, every=0.001)


async def written(engine: AsyncEngine) -> list[int]:
    async with db.create_sessions(engine, read_only=True)() as session:
        return list(await session.scalars(text("SELECT writer FROM written ORDER BY rowid")))


async def test_writers_take_the_lock_in_the_order_they_asked_while_another_process_holds_it(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, theirs = engines
    other_process, release = await holder(theirs, -1)
    writers = []
    for n in range(WRITERS):  # each asking once the one before it waits, as requests arrive
        writers.append(asyncio.create_task(write(ours, n, fail=n == 3)))
        await asking(ours, n + 1)
    release.set()
    results = await asyncio.gather(other_process, *writers, return_exceptions=True)

    assert [type(r).__name__ for r in results].count("ValueError") == 1
    assert await written(ours) == [-1, *(n for n in range(WRITERS) if n != 3)]
    assert db.writers_asking(ours) == 0


async def test_a_writer_without_a_turn_in_time_hears_the_database_is_locked(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = engines
    monkeypatch.setattr(db, "WRITE_LOCK_TIMEOUT", 0.3)
    held, release = await holder(ours, 1)
    for engine in (ours, theirs):  # waiting for its turn; waiting for SQLite's lock
        with pytest.raises(OperationalError, match="database is locked"):
            await write(engine, 2)
    release.set()
    await held
    await asyncio.wait_for(write(ours, 3), 1.0)  # no turn was kept by the refused writers
    assert await written(ours) == [1, 3]


async def test_a_writer_cancelled_while_writing_or_waiting_gives_its_turn_back(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, _ = engines
    writing, _release = await holder(ours, 1)
    waiting = asyncio.create_task(write(ours, 2))
    await asking(ours, 1)  # it waits for the turn the holder has
    waiting.cancel()
    writing.cancel()
    for task in (waiting, writing):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert db.writers_asking(ours) == 0
    await asyncio.wait_for(write(ours, 3), 1.0)
    assert await written(ours) == [3]


async def test_a_writer_cancelled_in_the_middle_of_a_statement_hears_only_its_cancellation(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    """Cancelled while SQLite runs a statement, the connection is dropped: the transaction's
    end must neither hide the cancellation behind another error nor keep the turn."""
    ours, _ = engines

    async def busy_writer() -> None:
        async with ours.connect() as connection:
            while True:
                await connection.execute(text("INSERT INTO written VALUES (0)"))

    # The moment of the cancellation is what varies: each delay stops it somewhere else.
    for delay in [n / 1000 for n in range(1, 30)]:
        task = asyncio.create_task(busy_writer())
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.wait_for(write(ours, 1), 1.0)
    assert (await written(ours))[-1:] == [1]
