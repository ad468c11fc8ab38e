"""Handing a decision to an object's process: the one way every router does it.

A decision (qualify a lead, approve a quote, resolve a dispute, complete a milestone, answer
a ticket…) is an update of the object's process:

1. a request retried under its ``Idempotency-Key`` gets the first one's answer;
2. a start the CRM recorded but Temporal never got (the create request met Temporal away)
   is made now, so the decision finds its process instead of a 409;
3. the session is committed, so the database is not held while the process writes;
4. the update, under the request's update id (a retry never decides twice), its refusal
   mapped to the CRM error it stands for (``api.processes.decide``);
5. a process that has ended is the router's own refusal (``ended``), read afresh;
6. the answer, kept for a retry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import status
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api import processes
from api.idempotency import Once, Replay
from crm import launcher
from crm.errors import Conflict, CrmError
from crm.settings import Settings

Ended = Callable[[], Awaitable[CrmError]]
"""The refusal for a process that has ended; it reads the object's status afresh
(``populate_existing``): the objects the request loaded are left as they were, so a check
of who may act still reads them without a trip to the database."""
Answer = Callable[[Any], Awaitable[Any]]
"""The answer, from the update's result."""


class _ProcessEnded(Conflict):
    def __init__(self) -> None:
        super().__init__("the process has ended")


async def decide(
    session: AsyncSession, client: Client, settings: Settings, once: Once, workflow_id: str,
    update: Any, arg: Any, *, ended: Ended, answer: Answer,
) -> Any:
    """Hand the decision to the process and answer with what it leads to (steps 1-6)."""
    if (kept := await once.answered(session)) is not None:
        return Replay(kept).response()
    result = await hand_over(session, client, settings, workflow_id, update, arg,
                             update_id=once.update_id, ended=ended)
    body = await answer(result)
    await once.keep(session, status.HTTP_200_OK, body)
    return body


async def hand_over(
    session: AsyncSession, client: Client, settings: Settings, workflow_id: str, update: Any,
    arg: Any, *, update_id: str | None, ended: Ended,
) -> Any:
    """Steps 2-5: the update's result, once the process is there to take it."""
    await launcher.resume(session, client, settings, workflow_id)
    await session.commit()
    handle = client.get_workflow_handle(workflow_id)
    try:
        result = await processes.decide(settings, handle, update, arg, update_id=update_id,
                                        when_ended=_ProcessEnded)
    except _ProcessEnded:
        raise await ended() from None  # (it reads the object afresh itself)
    session.expire_all()  # what the process wrote meanwhile
    return result
