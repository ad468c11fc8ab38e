"""Status changes planned against the state as it stands when the change gets its turn.

``Lifecycle.change`` takes its target status before it waits for the process's lock. Where
the target, the reason or the business event depend on the state (a payment leaves the
status as it is, or makes it paid; a ladder level keeps whatever status the invoice has),
the plan must be made again if another change was recorded meanwhile::

    async with changes.make(lambda: plan_the_payment(payment)) as moving:
        if moving:
            count_the_payment()            # under the lock, part of the change

``plan()`` answers a :class:`Change`, None (nothing to do), or refuses (raises). A plan is
made before the lock and checked under it: a change recorded in between sends it back to
planning. The lifecycle must call :meth:`PlannedChanges.recorded` from its ``on_change``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from workflows.lifecycle import Lifecycle


@dataclass
class Change:
    to: str
    reason: str
    event: str
    """The business event, unique across the process's runs (level_3, payment_2…): the key
    of the CRM's record is ``{event}:{to}``."""
    by_user_id: int | None = None


class _Overtaken(Exception):
    """Another change was recorded while this one waited for its turn."""


class PlannedChanges:
    def __init__(self, lifecycle: Lifecycle) -> None:
        self.lifecycle = lifecycle
        self.count = 0
        """Changes recorded in this run: a plan made before the last one is stale."""

    def recorded(self) -> None:
        self.count += 1

    @asynccontextmanager
    async def make(self, plan: Callable[[], Change | None]) -> AsyncIterator[bool]:
        """Make the change ``plan()`` says; yields whether it is happening."""
        while True:
            seen = self.count
            change = plan()
            if change is None:
                yield False
                return
            try:
                async with self.lifecycle.change(change.to, change.reason,
                                                 by_user_id=change.by_user_id) as moving:
                    if self.count != seen:
                        raise _Overtaken
                    # Read when the change is recorded, still under the lock.
                    self.lifecycle.event_prefix = f"{change.event}:"
                    yield moving
                    return
            except _Overtaken:
                continue
