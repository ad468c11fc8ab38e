"""How much each measure does: the full run of issue 12, ``--quick``, and ``tiny`` (the
test's: every path exercised, nothing measured seriously; fewer callers too, so no measure
waits out a stuck API).

Every load is bounded twice, in count and in seconds; a side that cannot finish its count in
time reports what it did, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Loads:
    name: str
    open_processes: int
    """Measure 4 (and the intake of 1): processes queued while the worker is held."""
    intake_seconds: float
    starts: int
    """Measure 1: starts per side, by 32 concurrent callers."""
    starts_seconds: float
    deals: int
    """Measure 2: short processes driven to completion per side, 16 at a time."""
    deals_seconds: float
    approvals: int
    """Measure 3: decisions per side, 16 concurrent."""
    approvals_seconds: float
    reminders: int
    """Measure 5: reminders due at one instant, per side."""
    storm_seconds: float
    read_rows: int
    """Measure 6: leads, and as many quotes, in the database."""
    read_seconds: float
    """Per endpoint."""
    enrolments: int = 1_000
    """Measure 7: objects enrolled in one request in the largest definition the policy
    allows."""
    simulated: int = 100
    """Measure 8: past quote cases one simulation replays (each twice)."""
    grace: float = 10.0
    """Seconds a call under way at a measure's deadline may still take (then: failed)."""
    concurrency: int = 32
    """Starts and reads (performance.md: 32 concurrent clients)."""
    deciders: int = 16
    """Approvals and deals (performance.md: 16 concurrent)."""


FULL = Loads("full", open_processes=10_000, intake_seconds=30, starts=4_000,
             starts_seconds=8, deals=2_000, deals_seconds=8, approvals=1_000,
             approvals_seconds=8, reminders=5_000, storm_seconds=30, read_rows=100_000,
             read_seconds=4)
QUICK = Loads("quick", open_processes=300, intake_seconds=8, starts=300, starts_seconds=2,
              deals=100, deals_seconds=2, approvals=100, approvals_seconds=2, reminders=300,
              storm_seconds=10, read_rows=10_000, read_seconds=1, grace=3, enrolments=200,
              simulated=30)
TINY = Loads("tiny", open_processes=20, intake_seconds=8, starts=20, starts_seconds=1,
             deals=8, deals_seconds=1, approvals=8, approvals_seconds=1, reminders=20,
             storm_seconds=5, read_rows=500, read_seconds=0.5, grace=3, concurrency=8,
             deciders=4, enrolments=10, simulated=6)
LOADS = {loads.name: loads for loads in (FULL, QUICK, TINY)}
