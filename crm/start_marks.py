"""The API's marks of the processes it started, written together a moment later.

A recorded start is marked started once Temporal has the run, so that the repair and a
retried request stop looking at it (``crm.repo.starts.pending``). The mark is bookkeeping,
not what makes a start safe: a start left unmarked is found running by its memo and marked
then (``crm.launcher.launch``). So the API does not spend a write transaction of its own on
each start; it notes the mark and writes every mark noted meanwhile in one transaction, a
moment later. On SQLite, with its one write lock, that second write per request cost about a
third of the start rate (``bench``, "process starts").

If the database refuses, the marks are kept and tried again; marks still unwritten when the
API stops are left to the repair, which finds those processes running and marks them.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import structlog
from sqlalchemy import bindparam, update
from sqlalchemy.exc import SQLAlchemyError

from crm import db
from crm.models import ProcessStart
from crm.models.base import utcnow

log = structlog.get_logger(__name__)

GATHER_SECONDS = 0.05
"""How long the first mark waits for others to join it."""
RETRY_SECONDS = 2.0
"""How long after a refusal of the database the marks are tried again."""

_MARK = (
    update(ProcessStart.__table__)  # type: ignore[arg-type]
    .where(ProcessStart.__table__.c.id == bindparam("start_id"),
           ProcessStart.__table__.c.started_at.is_(None))
    .values(started_at=bindparam("at"), run_id=bindparam("run"), last_error=None)
)


class StartMarks:
    def __init__(self, sessions: db.Sessions) -> None:
        self.sessions = sessions
        self._noted: dict[int, tuple[str | None, datetime]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def note(self, start_id: int, run_id: str | None) -> None:
        """This start's run is in Temporal: mark it with the next batch."""
        self._noted[start_id] = (run_id, utcnow())
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep_writing(), name="start marks")

    async def stop(self) -> None:
        """Write what is noted (once), then stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._noted and not await self.write():
            log.info("start marks left to the repair", starts=len(self._noted))

    async def write(self) -> bool:
        """Write every mark noted so far; False (the marks kept) when the database refuses."""
        batch, self._noted = self._noted, {}
        if not batch:
            return True
        try:
            async with db.unit_of_work(self.sessions) as session:
                await session.execute(_MARK, [
                    {"start_id": start_id, "run": run_id, "at": at}
                    for start_id, (run_id, at) in batch.items()])
        except (SQLAlchemyError, OSError) as error:
            self._noted = {**batch, **self._noted}
            log.info("start marks not written yet", starts=len(batch), error=str(error))
            return False
        return True

    async def _keep_writing(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(GATHER_SECONDS)
            if not await self.write():
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()
