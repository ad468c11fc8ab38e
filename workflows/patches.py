"""The register of patches: every change made to a process while runs of it may be open.

A running process replays its history against today's code, so a change to what a process
does (a new activity, timer or step, another order) must keep the old path for the runs
that took it. From 1.0 on, such a change goes in three steps, each a release:

1. **Patch**: the new code runs under ``if patched(THE_PATCH):``, the old one in ``else``;
   the patch is registered here (``Patch(id, since, why, workflow_types)``). New runs take
   the new path and carry the patch's marker (and ``TemporalChangeVersion``).
2. **Deprecate**: once ``crmflow processes versions`` counts no open run that predates the
   patch, the old branch goes and the call becomes ``deprecate_patch`` (set
   ``deprecated=True``): runs that took the patch still replay.
3. **Remove**: once no open run carries the marker either (every run from step 1 has ended),
   the call and the register's entry go, with the recordings of the old shape.

A change too wide for a patch goes to a new Worker Deployment Version instead (the runs
already open stay on the build that started them): see ``worker.versioning``.

1.0.0 started with no patch: every process was its first generation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from temporalio import workflow


@dataclass(frozen=True)
class Patch:
    id: str
    since: date
    """The day the patched code was deployed: runs started before may predate it."""
    why: str
    workflow_types: tuple[str, ...]
    deprecated: bool = False
    """The old branch is gone; the call is ``workflow.deprecate_patch``."""


BREACHES_KEPT = Patch(
    "ticket-breaches-kept", date(2026, 12, 7),
    "the ticket's row keeps when each target was missed (the insights count them): a breach "
    "at the highest priority, which changed nothing on the row before, now saves it",
    ("SupportTicket",))

PATCHES: tuple[Patch, ...] = (BREACHES_KEPT,)
"""Every patch still in the code, oldest first."""


def patched(patch: Patch) -> bool:
    """Whether this run takes the patched path (always, for a deprecated patch)."""
    if patch.deprecated:
        workflow.deprecate_patch(patch.id)
        return True
    return workflow.patched(patch.id)
