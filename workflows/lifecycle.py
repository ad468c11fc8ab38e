"""One guarded status change, the same for every process.

A process's statuses form a table of allowed transitions. Every change goes through
:class:`Lifecycle`: under the process's lock it checks the transition, sets the status **in
memory first** (so an update validator, which reads it, can never accept a message against a
status that is already being left), does the work that belongs to the change, records it in
the CRM (an activity keyed by the business event, so a retry or a replay writes it once),
and only then shows it on the workflow (``CrmStatus``, current details).

    async with self.lifecycle.change("qualified", "budget confirmed", by_user_id=7) as moving:
        if not moving:
            self.lifecycle.refuse("qualified")
        await open_the_opportunity()       # part of the change, under the same lock

A change whose block raises is undone in memory and not recorded. ``move()`` is the
shorthand for a change with no work of its own; it answers False when the status no longer
allows it (something else came first), which is how a timeout loses to a decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from temporalio import workflow

from workflows import steps
from workflows.refusals import WRONG_STATUS, refuse


@dataclass
class StatusChange:
    """The last change: what the process is in, since when, why and by whom."""

    status: str
    reason: str = ""
    by_user_id: int | None = None
    at: datetime | None = None
    """When it was recorded, by the history (None until it is, or for a carried status)."""


class Lifecycle:
    """The status of one business object, changed only along its transition table."""

    def __init__(
        self,
        object_type: str,
        object_id: int,
        transitions: Mapping[str, Collection[str]],
        *,
        status: str,
        event_prefix: str = "",
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.object_type = object_type
        self.object_id = object_id
        self.transitions = transitions
        self.last = StatusChange(status)
        self.event_prefix = event_prefix
        """Makes the CRM record's key unique across runs of one workflow id (a resubmission)."""
        self.on_change = on_change
        self.lock = asyncio.Lock()

    @property
    def status(self) -> str:
        return self.last.status

    @property
    def final(self) -> bool:
        return not self.transitions.get(self.status)

    def allows(self, to_status: str) -> bool:
        return to_status in self.transitions.get(self.status, ())

    @property
    def settled(self) -> bool:
        """No change is under way: what the status says has been recorded."""
        return not self.lock.locked()

    def why_not(self, doing: str, rule: str = "") -> str:
        """A refusal that says what came first: 'quote 4 is validated (no decision within
        5 days: validated by rule), so it cannot be approved or rejected'."""
        why = f" ({self.last.reason})" if self.last.reason else ""
        rule = f": {rule}" if rule else ""
        return (f"{self.object_type} {self.object_id} is {self.status}{why}, "
                f"so it cannot {doing}{rule}")

    def refuse(self, doing: str, rule: str = "") -> NoReturn:
        """Refuse (WrongStatus) because of the status, saying what came first."""
        refuse(WRONG_STATUS, self.why_not(doing, rule), status=self.status)

    @asynccontextmanager
    async def change(
        self,
        to_status: str,
        reason: str,
        *,
        by_user_id: int | None = None,
        holds_until: datetime | None = None,
    ) -> AsyncIterator[bool]:
        """Hold the lock; if the transition is allowed, enter it in memory, run the block,
        then record it. Yields whether the change is happening."""
        async with self.lock:
            if not self.allows(to_status):
                yield False
                return
            before = self.last
            self.last = StatusChange(to_status, reason, by_user_id)
            try:
                yield True
            except BaseException:
                self.last = before
                raise
            self.last.at = await steps.record_status(
                self.object_type, self.object_id, to_status, reason,
                by_user_id=by_user_id, holds_until=holds_until,
                event=f"{self.event_prefix}{to_status}",
            )
            self.on_change()

    async def move(
        self,
        to_status: str,
        reason: str,
        *,
        by_user_id: int | None = None,
        holds_until: datetime | None = None,
    ) -> bool:
        """Change the status if it still allows it; False when something else came first."""
        async with self.change(to_status, reason, by_user_id=by_user_id,
                               holds_until=holds_until) as moving:
            pass
        if not moving:
            workflow.logger.info("%s %s stays %s: %s no longer applies",
                                 self.object_type, self.object_id, self.status, to_status)
        return moving
