"""SLA clocks: a target of working time that runs, pauses while the ticket waits on the
customer, and stops when it is met; it warns before its end and is breached at it.

A clock keeps the working time it used before its current run (``used``) and when that run
began (``running_since``): pausing adds the run to ``used``; resuming starts a new run, so
the deadline moves by exactly the working time the pause lasted. Pure: the workflow passes
the instant (``workflow.now()``) and the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from workflows import business_time
from workflows.business_time import ZERO, Calendar


@dataclass
class ClockView:
    """What the ticket shows of one clock."""

    name: str
    target: timedelta
    state: str
    """running, paused, met, breached (still running past its target), missed (met late)."""
    due_at: datetime | None
    remaining: timedelta
    """Working time left (negative: overdue)."""
    warned: bool
    breached_at: datetime | None


@dataclass
class SlaClock:
    name: str
    """first_response or resolution."""
    target: timedelta
    used: timedelta = ZERO
    running_since: datetime | None = None
    due_at: datetime | None = None
    """While running: when the target is reached."""
    warn_at: datetime | None = None
    stopped_at: datetime | None = None
    warned: bool = False
    breached_at: datetime | None = None

    @property
    def running(self) -> bool:
        return self.running_since is not None

    @property
    def stopped(self) -> bool:
        return self.stopped_at is not None

    def start(self, now: datetime, calendar: Calendar, warning_pct: int) -> None:
        """(Re)start the clock from what it has used so far."""
        self.running_since, self.stopped_at = now, None
        left = self.target - self.used
        self.due_at = business_time.add(calendar, now, left)
        warn_left = self.target * warning_pct / 100 - self.used
        self.warn_at = business_time.add(calendar, now, warn_left) if not self.warned else None

    def pause(self, now: datetime, calendar: Calendar) -> None:
        """Stop counting (the ticket waits on the customer); ``start`` resumes."""
        if self.running_since is not None:
            self.used += business_time.between(calendar, self.running_since, now)
        self.running_since = self.due_at = self.warn_at = None

    def stop(self, now: datetime, calendar: Calendar) -> None:
        """The target is met (or abandoned): the clock counts no more."""
        self.pause(now, calendar)
        if not self.stopped:
            self.stopped_at = now

    def remaining(self, now: datetime, calendar: Calendar) -> timedelta:
        """Working time left before the target (negative: overdue)."""
        used = self.used
        if self.running_since is not None:
            used += business_time.between(calendar, self.running_since, now)
        return self.target - used

    def state(self) -> str:
        """running, paused, met, breached or missed (see ClockView)."""
        if self.stopped:
            return "missed" if self.breached_at else "met"
        if self.breached_at:
            return "breached"
        return "running" if self.running else "paused"

    def view(self, now: datetime, calendar: Calendar) -> ClockView:
        """What the ticket shows of this clock at ``now``."""
        return ClockView(self.name, self.target, self.state(), self.due_at,
                         self.remaining(now, calendar), self.warned, self.breached_at)

    def next_alarm(self) -> tuple[datetime, str] | None:
        """The next instant this clock needs the process: its warning, then its breach."""
        if not self.running:
            return None
        if not self.warned and self.warn_at is not None:
            return self.warn_at, "warning"
        if self.breached_at is None and self.due_at is not None:
            return self.due_at, "breach"
        return None
