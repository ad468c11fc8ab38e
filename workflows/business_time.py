"""Business time: how much working time lies between two instants, and when a working
duration ends, under a calendar of working days and hours in one time zone, less holidays.

Pure and deterministic (no I/O, no clock), so the SLA clocks use it inside workflows. The
holidays are plain dates, computed outside the workflow (``crm.support.calendar_for``).

Instants are timezone-aware; every answer is in UTC. A duration that ends exactly at closing
time ends then (not at the next opening), so ``add(add(t, a), b) == add(t, a + b)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ZERO = timedelta(0)
LONGEST_SEARCH = 3660
"""Days searched for working time before giving up (a calendar without any is refused)."""


@dataclass
class Calendar:
    """Working days (0 = Monday), opening and closing time, time zone, holidays."""

    time_zone: str = "Europe/Paris"
    working_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    opens: time = time(9)
    closes: time = time(17)
    holidays: list[date] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.working_days or not set(self.working_days) <= set(range(7)):
            raise ValueError("a calendar needs working days among 0 (Monday) to 6 (Sunday)")
        if self.opens >= self.closes:
            raise ValueError("a calendar's opening time must come before its closing time")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.working_days and day not in self.holidays

    def local(self, instant: datetime) -> datetime:
        """The instant on the calendar's wall clock."""
        return instant.astimezone(self.zone)


def _windows(calendar: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The working periods (UTC) that end after ``start``, in order, clipped to it."""
    zone = calendar.zone
    day = start.astimezone(zone).date()
    for _ in range(LONGEST_SEARCH):
        if calendar.is_working_day(day):
            opens = datetime.combine(day, calendar.opens, zone).astimezone(UTC)
            closes = datetime.combine(day, calendar.closes, zone).astimezone(UTC)
            if closes > start:
                yield max(opens, start), closes
        day += timedelta(days=1)
    raise ValueError(f"no working time within {LONGEST_SEARCH} days of {start}")


def add(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The instant at which ``duration`` of working time has passed since ``start``."""
    start = start.astimezone(UTC)
    if duration <= ZERO:
        return start
    left = duration
    for opens, closes in _windows(calendar, start):
        if opens + left <= closes:
            return opens + left
        left -= closes - opens
    raise AssertionError("unreachable: _windows raises first")


def add_working_days(calendar: Calendar, start: datetime, days: int) -> datetime:
    """The same time of day (kept within working hours) on the ``days``-th working day after
    ``start``'s day: two working days from Friday 15:00 is Tuesday 15:00; from a Sunday, or
    a holiday, the count starts with the next working day."""
    local = calendar.local(start)
    day, counted = local.date(), 0
    for _ in range(LONGEST_SEARCH):
        if counted == days:
            break
        day += timedelta(days=1)
        counted += calendar.is_working_day(day)
    else:
        raise ValueError(f"no {days} working days within {LONGEST_SEARCH} days of {start}")
    clock = min(max(local.time().replace(tzinfo=None), calendar.opens), calendar.closes)
    return datetime.combine(day, clock, calendar.zone).astimezone(UTC)


def between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """The working time from ``start`` to ``end`` (zero when ``end`` is not later)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    total = ZERO
    if end <= start:
        return total
    for opens, closes in _windows(calendar, start):
        if opens >= end:
            break
        total += min(closes, end) - opens
        if closes >= end:
            break
    return total


def describe(duration: timedelta) -> str:
    """Working time as people say it: '2 h 30 min', '45 min', 'overdue by 1 h'."""
    if duration < ZERO:
        return f"overdue by {describe(-duration)}"
    minutes = int(duration.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours} h {minutes} min"
    return f"{hours} h" if hours else f"{minutes} min"
