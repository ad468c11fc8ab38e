"""Business time, the arithmetic under the SLA clocks: examples, then properties that must
hold under any calendar (hypothesis): it is monotonic, it adds up, and a pause moves a
deadline by exactly the working time the pause lasted."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from crm.support import calendar_for
from workflows.business_time import Calendar, add, between, describe
from workflows.sla import SlaClock
from workflows.support_types import SupportCalendar

PARIS = ZoneInfo("Europe/Paris")
H = timedelta(hours=1)


def paris(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), PARIS)


def test_a_duration_skips_nights_weekends_and_holidays() -> None:
    calendar = calendar_for(SupportCalendar(), date(2026, 12, 1))  # France, 9:00-17:00
    assert date(2026, 12, 25) in calendar.holidays
    thursday = date(2026, 12, 24)
    assert add(calendar, paris(thursday, 16), 2 * H) == paris(date(2026, 12, 28), 10)
    assert between(calendar, paris(thursday, 16), paris(date(2026, 12, 28), 10)) == 2 * H
    # Before opening, the clock starts at opening; after closing, the next working morning.
    assert add(calendar, paris(date(2026, 12, 28), 7), H) == paris(date(2026, 12, 28), 10)
    assert add(calendar, paris(date(2026, 12, 28), 18), H) == paris(date(2026, 12, 29), 10)
    # A duration ending at closing time ends then, not the next morning.
    assert add(calendar, paris(date(2026, 12, 28), 9), 8 * H) == paris(date(2026, 12, 28), 17)


def test_extra_days_and_the_wall_clock_across_a_change_of_time() -> None:
    calendar = calendar_for(SupportCalendar(holiday_country=None, extra_days=[
        date(2027, 3, 29)]), date(2027, 3, 1))
    assert calendar.holidays == [date(2027, 3, 29)]
    # Clocks go forward on Sunday 28 March 2027: Friday 16:00 + 2 h is Tuesday 10:00, Paris
    # time, though only 2 working hours and not 2 + 1 passed in UTC terms.
    assert add(calendar, paris(date(2027, 3, 26), 16), 2 * H) == paris(date(2027, 3, 30), 10)


def test_working_time_is_said_as_people_say_it() -> None:
    assert describe(timedelta(hours=2, minutes=30)) == "2 h 30 min"
    assert describe(timedelta(minutes=45)) == "45 min"
    assert describe(-H) == "overdue by 1 h"


# Properties ---------------------------------------------------------------------------

ZONES = ["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]


@st.composite
def calendars(draw: st.DrawFn) -> Calendar:
    opens = draw(st.integers(0, 21 * 4))  # in quarter hours: at least 2 working hours a day
    closes = draw(st.integers(opens + 8, 24 * 4 - 1))
    return Calendar(
        time_zone=draw(st.sampled_from(ZONES)),
        working_days=sorted(draw(st.sets(st.integers(0, 6), min_size=1))),
        opens=time(opens // 4, opens % 4 * 15),
        closes=time(closes // 4, closes % 4 * 15),
        holidays=sorted(draw(st.sets(st.dates(date(2026, 1, 1), date(2027, 12, 31)),
                                     max_size=40))),
    )


instants = st.datetimes(datetime(2026, 1, 1), datetime(2027, 6, 30), timezones=st.just(UTC))
durations = st.timedeltas(timedelta(0), timedelta(hours=120))
checked = settings(max_examples=150, deadline=None)


@checked
@given(calendars(), instants, durations, durations)
def test_adding_is_monotonic_and_additive(
    calendar: Calendar, start: datetime, a: timedelta, b: timedelta
) -> None:
    shorter, longer = sorted((a, b))
    assert add(calendar, start, shorter) <= add(calendar, start, longer)
    assert add(calendar, start, a) >= start
    assert add(calendar, add(calendar, start, a), b) == add(calendar, start, a + b)


@checked
@given(calendars(), instants, instants, durations)
def test_a_later_start_never_ends_sooner(
    calendar: Calendar, one: datetime, other: datetime, duration: timedelta
) -> None:
    early, late = sorted((one, other))
    assert add(calendar, early, duration) <= add(calendar, late, duration)


@checked
@given(calendars(), instants, durations)
def test_between_measures_what_add_added(
    calendar: Calendar, start: datetime, duration: timedelta
) -> None:
    assert between(calendar, start, add(calendar, start, duration)) == duration


@checked
@given(calendars(), instants, instants, instants)
def test_working_time_between_adds_up(
    calendar: Calendar, one: datetime, two: datetime, three: datetime
) -> None:
    a, b, c = sorted((one, two, three))
    assert between(calendar, a, c) == between(calendar, a, b) + between(calendar, b, c)
    assert between(calendar, a, b) <= between(calendar, a, c)


@checked
@given(calendars(), instants, st.timedeltas(timedelta(minutes=1), timedelta(hours=60)),
       st.floats(0, 1, exclude_max=True), st.timedeltas(timedelta(0), timedelta(days=20)))
def test_a_pause_moves_the_deadline_by_exactly_the_paused_working_time(
    calendar: Calendar, start: datetime, target: timedelta, share: float, paused: timedelta
) -> None:
    clock = SlaClock("resolution", target)
    clock.start(start, calendar, 75)
    assert clock.due_at is not None
    deadline = clock.due_at
    pause_at = start + (deadline - start) * share
    assume(between(calendar, start, pause_at) < target)  # paused before the deadline
    resume_at = pause_at + paused

    clock.pause(pause_at, calendar)
    clock.start(resume_at, calendar, 75)

    assert clock.due_at == add(calendar, start, target + between(calendar, pause_at,
                                                                 resume_at))
    assert between(calendar, deadline, clock.due_at) == between(calendar, pause_at, resume_at)
