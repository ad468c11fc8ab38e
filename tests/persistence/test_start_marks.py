"""The API's marks of started processes: written together, kept while the database refuses,
written when the API stops; a start marked already keeps its first mark."""

from __future__ import annotations

from sqlalchemy import select

from crm import db
from crm.models import ProcessStart
from crm.repo import starts
from crm.start_marks import StartMarks


async def recorded(sessions: db.Sessions, count: int) -> list[int]:
    async with db.unit_of_work(sessions) as session:
        made = [await starts.record(session=session, process="lead_to_sale",
                                    workflow_id=f"lead-{n}", object_type="lead", object_id=n,
                                    input_json="{}") for n in range(1, count + 1)]
        return [start.id for start in made]


async def marks(sessions: db.Sessions) -> dict[str, str | None]:
    """The run id each marked start names, by workflow id."""
    async with db.unit_of_work(sessions) as session:
        rows = await session.execute(select(ProcessStart.workflow_id, ProcessStart.run_id)
                                     .where(ProcessStart.started_at.is_not(None)))
        return {workflow_id: run_id for workflow_id, run_id in rows}


async def test_the_marks_noted_are_written_together(sessions: db.Sessions) -> None:
    first, second, _unmarked = await recorded(sessions, 3)
    noted = StartMarks(sessions)
    noted.note(first, "run-1")
    noted.note(second, "run-2")

    assert await marks(sessions) == {}  # noted, not written yet
    assert await noted.write()
    assert await marks(sessions) == {"lead-1": "run-1", "lead-2": "run-2"}
    async with db.unit_of_work(sessions) as session:
        assert [s.workflow_id for s in await starts.pending(session=session)] == ["lead-3"]


async def test_a_start_marked_already_keeps_its_first_mark(sessions: db.Sessions) -> None:
    [start] = await recorded(sessions, 1)
    async with db.unit_of_work(sessions) as session:
        await starts.mark_started(session=session, start_id=start, run_id="by-the-repair")
    noted = StartMarks(sessions)
    noted.note(start, "by-the-request")

    assert await noted.write()
    assert await marks(sessions) == {"lead-1": "by-the-repair"}


async def test_marks_the_database_refuses_are_kept_and_written_later(
    sessions: db.Sessions,
) -> None:
    [start] = await recorded(sessions, 1)
    unreachable = db.create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    noted = StartMarks(db.create_sessions(unreachable))
    noted.note(start, "run-1")

    assert not await noted.write()
    await unreachable.dispose()
    noted.sessions = sessions  # the database is back
    assert await noted.write()
    assert await marks(sessions) == {"lead-1": "run-1"}


async def test_what_is_noted_is_written_when_the_api_stops(sessions: db.Sessions) -> None:
    [start] = await recorded(sessions, 1)
    noted = StartMarks(sessions)
    noted.start()
    noted.note(start, "run-1")
    await noted.stop()  # before the batch's moment has come

    assert await marks(sessions) == {"lead-1": "run-1"}
