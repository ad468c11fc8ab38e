"""What a measure reports: rows of the table (crmflow beside bare, the ratio, the goal) and
latency distributions for the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Goal:
    """A goal of issue 12 / performance.md: a ratio to bare, or an absolute ceiling."""

    kind: Literal["ratio_at_least", "ratio_at_most", "below", "floor_ratio_at_most",
                  "floor_plus_at_most"]
    value: float
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "ratio_at_least":
            return f">= {self.value:g}x bare"
        if self.kind == "ratio_at_most":
            return f"<= {self.value:g}x bare"
        if self.kind == "floor_ratio_at_most":
            return f"<= {self.value:g}x floor"
        if self.kind == "floor_plus_at_most":
            return f"<= floor + {self.value:g}"
        return f"< {self.value:g} {self.unit}".strip()

    def met(self, crmflow: float | None, ratio: float | None,
            floor: float | None = None) -> bool | None:
        if self.kind == "floor_plus_at_most":
            if crmflow is None or floor is None or math.isnan(crmflow) or math.isnan(floor):
                return None
            return crmflow <= floor + self.value
        if self.kind == "below":
            return None if crmflow is None or math.isnan(crmflow) else crmflow < self.value
        if ratio is None or math.isnan(ratio):
            return None
        return ratio >= self.value if self.kind == "ratio_at_least" else ratio <= self.value


@dataclass
class Row:
    measure: str
    database: str
    unit: str
    crmflow: float | None
    bare: float | None
    goal: Goal | None = None
    detail: str = ""
    """What exactly was compared, and how many."""
    failures: tuple[int, int] = (0, 0)
    """Calls that failed: crmflow's, bare's. A goal is never met with failures."""
    floor: float | None = None
    """The floor's figure (``bench.floor``): the same work done as leanly as it can be."""
    floor_goal: Goal | None = None
    floor_failures: int = 0

    @property
    def ratio(self) -> float | None:
        if self.crmflow is None or self.bare is None or not self.bare:
            return None
        if math.isnan(self.crmflow) or math.isnan(self.bare):
            return None
        return self.crmflow / self.bare

    @property
    def met(self) -> bool | None:
        if self.goal is None:
            return None
        if self.failures[0]:
            return False
        return self.goal.met(self.crmflow, self.ratio)

    @property
    def floor_ratio(self) -> float | None:
        if self.crmflow is None or not self.floor or math.isnan(self.crmflow):
            return None
        return None if math.isnan(self.floor) else self.crmflow / self.floor

    @property
    def floor_met(self) -> bool | None:
        """The goal against the floor; never met with failures on either side."""
        if self.floor_goal is None:
            return None
        if self.failures[0] or self.floor_failures:
            return False
        return self.floor_goal.met(self.crmflow, self.floor_ratio, self.floor)


@dataclass
class Distribution:
    """Latencies (seconds) of one side of one latency measure, for the plot."""

    measure: str
    database: str
    side: Literal["crmflow", "bare"]
    seconds: list[float]
    series: str = ""
    """Which one, where a measure has several per side (the read endpoints)."""


@dataclass
class Outcome:
    rows: list[Row] = field(default_factory=list)
    distributions: list[Distribution] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    """What crmflow's side did (processes taken in…), for the floor's side to do as much."""

    def add(self, other: Outcome) -> None:
        self.rows += other.rows
        self.distributions += other.distributions
        self.counts.update(other.counts)
