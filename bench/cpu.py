"""The CPU each process of the stack spends on one side of a measure, per operation.

On a machine whose cores the load keeps busy, a rate is bounded by the CPU one operation
costs across the whole stack: two cores give at most 2,000 ms of CPU a second, so an
operation costing 50 ms of it cannot go faster than 40 a second, however it is scheduled.
These rows say why a rate is where it is (issue 12: "where a goal cannot be met on this
machine, the benchmark shows why"), and ``--profile`` then says where inside a process.

Counted: every process the stack started (crmflow's API with its worker processes, its
worker, the bare worker, the Temporal server, the no-op app) and the bench's own process
(the callers and the SMTP sink), over the side's run. The other side's processes sit idle
meanwhile, polling, and cost next to nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import psutil

from bench.outcomes import Row
from bench.stack import Stack

NAMES = {"bare": "bare worker", "temporal": "server", "noop": "no-op app",
         "bench": "bench (callers, mail sink)"}
"""How the details name a process (``api`` and ``worker`` by their own names)."""


def _snapshot(stack: Stack) -> dict[str, tuple[int, float]]:
    """CPU seconds so far by process name, with the pid they were read from."""
    seen = {name: (part.pid, part.cpu()) for name, part in stack.parts.items()}
    own = psutil.Process(os.getpid()).cpu_times()
    seen["bench"] = (os.getpid(), own.user + own.system)
    return seen


@dataclass
class Spent:
    """CPU seconds by process over a stretch of a measure."""

    seconds: dict[str, float] = field(default_factory=dict)

    def total_ms(self, operations: int) -> float:
        return sum(self.seconds.values()) * 1000 / max(operations, 1)

    def note(self, operations: int) -> str:
        """The processes that spent a twentieth of the total or more, most first."""
        each = sorted(((s * 1000 / max(operations, 1), NAMES.get(n, n))
                       for n, s in self.seconds.items()), reverse=True)
        least = self.total_ms(operations) / 20
        return ", ".join(f"{name} {ms:.3g}" for ms, name in each if ms >= least and ms > 0)


@contextmanager
def metered(stack: Stack) -> Iterator[Spent]:
    """The CPU the stack spends in the block (a process restarted meanwhile counts from its
    start)."""
    before, spent = _snapshot(stack), Spent()
    try:
        yield spent
    finally:
        for name, (pid, seconds) in _snapshot(stack).items():
            was_pid, was = before.get(name, (pid, 0.0))
            spent.seconds[name] = seconds - (was if was_pid == pid else 0.0)


def cpu_row(measure: str, database: str, per: str, ours: Spent, ours_ops: int, bare: Spent,
            bare_ops: int) -> Row:
    """A row: the stack's CPU per operation, crmflow's and bare's, and what it bounds."""
    cores = os.cpu_count() or 1
    mine, theirs = ours.total_ms(ours_ops), bare.total_ms(bare_ops)
    bound = f"at most {cores * 1000 / mine:,.0f}/s" if mine else "unbounded"
    return Row(
        f"{measure}: CPU per {per}", database, "ms", mine, theirs, None,
        f"all processes' CPU per {per}, ms (a rate on {cores} busy cores is {bound} at "
        f"crmflow's): crmflow {ours.note(ours_ops)}; bare {bare.note(bare_ops)}")
