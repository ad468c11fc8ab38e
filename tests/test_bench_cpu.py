"""The bench's CPU per operation: every process's CPU over the block, divided by the operations
done; a process restarted meanwhile counts from its start; the row names the processes that
matter and the rate the machine's cores allow."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import cast

import pytest

from bench.cpu import Spent, cpu_row, metered
from bench.stack import Stack


@dataclass
class FakePart:
    pid: int
    seconds: float

    def cpu(self) -> float:
        return self.seconds


@dataclass
class FakeStack:
    parts: dict[str, FakePart] = field(default_factory=dict)


def test_the_cpu_of_every_process_over_the_block_is_counted() -> None:
    stack = FakeStack({"api": FakePart(10, 5.0), "worker": FakePart(11, 7.0),
                       "temporal": FakePart(12, 100.0)})
    with metered(cast(Stack, stack)) as spent:
        stack.parts["api"].seconds += 0.4
        stack.parts["worker"].seconds += 0.2
        stack.parts["temporal"] = FakePart(13, 0.3)  # restarted: counted from its start
        busy_until = time.process_time() + 0.05  # the bench's own process works too
        while time.process_time() < busy_until:
            pass
    assert spent.seconds["api"] == pytest.approx(0.4)
    assert spent.seconds["worker"] == pytest.approx(0.2)
    assert spent.seconds["temporal"] == pytest.approx(0.3)
    assert spent.seconds["bench"] >= 0.03  # (read in clock ticks of 10 ms)


def test_the_row_gives_cpu_per_operation_who_spent_it_and_the_rate_it_allows() -> None:
    ours = Spent({"api": 0.4, "worker": 0.5, "temporal": 0.1, "bench": 0.001})
    bare = Spent({"temporal": 0.02, "bare": 0.02})
    row = cpu_row("1 process starts", "sqlite", "start", ours, 100, bare, 10)

    assert (row.measure, row.unit) == ("1 process starts: CPU per start", "ms")
    assert (row.crmflow, row.bare) == (pytest.approx(10.01), pytest.approx(4.0))
    assert row.goal is None
    cores = os.cpu_count() or 1
    assert f"is at most {cores * 100:,}/s at crmflow's" in row.detail
    # The bench's 0.01 ms is under a twentieth of the 10 ms: left out.
    assert row.detail.endswith("crmflow worker 5, api 4, server 1; bare server 2, bare worker 2")
