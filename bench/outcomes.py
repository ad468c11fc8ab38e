"""What a measure reports: rows of the table (crmflow beside bare, the ratio, the goal) and
latency distributions for the plot."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Goal:
    """A goal of issue 12 / performance.md: a ratio to bare, or an absolute ceiling."""

    kind: Literal["ratio_at_least", "ratio_at_most", "below"]
    value: float
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "ratio_at_least":
            return f">= {self.value:g}x bare"
        if self.kind == "ratio_at_most":
            return f"<= {self.value:g}x bare"
        return f"< {self.value:g} {self.unit}".strip()

    def met(self, crmflow: float | None, ratio: float | None) -> bool | None:
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

    def add(self, other: Outcome) -> None:
        self.rows += other.rows
        self.distributions += other.distributions
