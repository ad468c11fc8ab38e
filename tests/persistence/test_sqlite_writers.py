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


async def write(engine: AsyncEngine, writer: int, *, hold: float = 0.0,
                fail: bool = False) -> None:
    async with db.unit_of_work(db.create_sessions(engine)) as session:
        await session.execute(text("INSERT INTO written VALUES (:w)"), {"w": writer})
        await asyncio.sleep(hold)
        if fail:
            raise ValueError("the transaction's own error")


async def written(engine: AsyncEngine) -> list[int]:
    async with db.create_sessions(engine, read_only=True)() as session:
        return list(await session.scalars(text("SELECT writer FROM written ORDER BY rowid")))


async def test_writers_take_the_lock_in_the_order_they_asked_while_another_process_holds_it(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, theirs = engines
    other_process = asyncio.create_task(write(theirs, -1, hold=0.4))
    await asyncio.sleep(0.05)
    writers = []
    for n in range(WRITERS):  # each a little later, as requests arrive
        writers.append(asyncio.create_task(write(ours, n, fail=n == 3)))
        await asyncio.sleep(0.03)
    results = await asyncio.gather(other_process, *writers, return_exceptions=True)

    assert [type(r).__name__ for r in results].count("ValueError") == 1
    assert await written(ours) == [-1, *(n for n in range(WRITERS) if n != 3)]


async def test_a_writer_without_a_turn_in_time_hears_the_database_is_locked(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch,
) -> None:
    ours, theirs = engines
    monkeypatch.setattr(db, "WRITE_LOCK_TIMEOUT", 0.3)
    holder = asyncio.create_task(write(ours, 1, hold=1.0))
    await asyncio.sleep(0.05)
    for engine in (ours, theirs):  # waiting for its turn; waiting for SQLite's lock
        with pytest.raises(OperationalError, match="database is locked"):
            await write(engine, 2)
    await holder
    await asyncio.wait_for(write(ours, 3), 1.0)  # no turn was kept by the refused writers
    assert await written(ours) == [1, 3]


async def test_a_writer_cancelled_while_writing_or_waiting_gives_its_turn_back(
    engines: tuple[AsyncEngine, AsyncEngine],
) -> None:
    ours, _ = engines
    writing = asyncio.create_task(write(ours, 1, hold=10.0))
    await asyncio.sleep(0.05)
    waiting = asyncio.create_task(write(ours, 2))
    await asyncio.sleep(0.05)
    waiting.cancel()
    writing.cancel()
    for task in (waiting, writing):
        with pytest.raises(asyncio.CancelledError):
            await task
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

    for delay in [n / 1000 for n in range(1, 30)]:
        task = asyncio.create_task(busy_writer())
        await asyncio.sleep(delay)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await asyncio.wait_for(write(ours, 1), 1.0)
    assert (await written(ours))[-1:] == [1]
