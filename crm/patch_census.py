"""How many open runs each registered patch still has to keep replaying.

A patch (``workflows.patches``) keeps an old path for the runs that took it before the
patched code was deployed. Those runs have no marker of the patch: a run takes the marker
(and Temporal's ``TemporalChangeVersion`` search attribute) when it reaches the patched code
with the new worker. So the runs that predate a patch are its workflow types' open runs
started before its day (a day later, to be safe about time zones and a slow deploy) that do
not carry the marker. Two visibility counts answer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from temporalio.client import Client

from workflows.patches import PATCHES, Patch


@dataclass
class PatchCensus:
    patch: Patch
    predating: int
    """Open runs that may still take the old path: while any is left the old branch stays."""
    carrying: int
    """Open runs that took the patch: while any is left the patch call stays."""

    @property
    def advice(self) -> str:
        if self.predating:
            return "keep it: runs from before it are open"
        if not self.patch.deprecated:
            return "may be deprecated (workflow.deprecate_patch): no open run predates it"
        if self.carrying:
            return "keep the deprecated call: runs that took it are open"
        return "may be removed: no open run predates it or carries it"


async def census(client: Client, patches: tuple[Patch, ...] = PATCHES) -> list[PatchCensus]:
    return [await count(client, patch) for patch in patches]


async def count(client: Client, patch: Patch) -> PatchCensus:
    types = ", ".join(f"'{name}'" for name in patch.workflow_types)
    open_runs = f"ExecutionStatus = 'Running' AND WorkflowType IN ({types})"
    cutoff = datetime.combine(patch.since + timedelta(days=1), time(), UTC)
    before = f"{open_runs} AND StartTime < '{cutoff.isoformat()}'"
    marked = f" AND TemporalChangeVersion = '{patch.id}'"
    started_before = (await client.count_workflows(before)).count
    marked_before = (await client.count_workflows(before + marked)).count
    carrying = (await client.count_workflows(open_runs + marked)).count
    return PatchCensus(patch, started_before - marked_before, carrying)
