"""The policy of your own workflows (``[own_workflows]`` in the policy file): how large a
definition may be, how long it may wait, and the calendars its waits may count in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from workflows.support_types import SupportCalendar


@dataclass
class OwnWorkflowPolicy:
    max_steps: int = 50
    """The most steps a definition may have."""
    longest_wait: timedelta = timedelta(days=365)
    """The longest a single wait, timeout or task due time may be."""
    max_loops: int = 10
    """The most times a go_to step may send an enrolment back."""
    max_enrolments: int = 1000
    """The most objects one enrolment request may enrol."""
    webhook_hosts: list[str] = field(default_factory=list)
    """The hosts webhook steps may call (``hooks.example.com``, or ``host:port``); none by
    default. An address on a private network or this machine (10.0.0.5, 127.0.0.1) is
    called only when it is listed itself: a listed name that resolves to one is refused."""
    calendars: dict[str, SupportCalendar] = field(
        default_factory=lambda: {"office": SupportCalendar()})
    """Named calendars a wait may count business time in (``wait: {for: 2d, calendar:
    office}``): working days and hours, time zone, holidays."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_steps <= 500:
            raise ValueError("max_steps is between 1 and 500")
        if self.longest_wait <= timedelta(0):
            raise ValueError("longest_wait is longer than nothing")
        if not 1 <= self.max_loops <= 1000:
            raise ValueError("max_loops is between 1 and 1000")
        if not 1 <= self.max_enrolments <= 100_000:
            raise ValueError("max_enrolments is between 1 and 100000")
