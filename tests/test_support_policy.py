"""The [support] policy table: targets per priority, the business calendar, clear refusals."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from crm.policies import PolicyError, parse_policies, policies_as_json
from crm.support import calendar_for

SUPPORT = """
[support]
breach_warning_pct = 80
waiting_reminder = "P1D"

[support.first_response]
high = "PT1H"

[support.calendar]
days = ["mon", "tue", "wed", "thu"]
opens = "08:00"
closes = "16:30"
time_zone = "Europe/Oslo"
holiday_country = "NO"
extra_days = [2026-12-24]
"""


def test_the_support_table_overrides_targets_and_the_calendar() -> None:
    support = parse_policies(SUPPORT).support
    assert support.first_response == {"low": timedelta(hours=8), "normal": timedelta(hours=4),
                                      "high": timedelta(hours=1), "urgent": timedelta(hours=1)}
    assert support.resolution["normal"] == timedelta(hours=24)
    assert (support.breach_warning_pct, support.waiting_reminder) == (80, timedelta(days=1))
    calendar = calendar_for(support.calendar, date(2026, 12, 1))
    assert (calendar.working_days, calendar.opens, calendar.closes) == (
        [0, 1, 2, 3], time(8), time(16, 30))
    assert {date(2026, 12, 24), date(2026, 12, 25), date(2027, 5, 17)} <= set(
        calendar.holidays)  # the extra day, Christmas, Norway's national day next year
    shown = policies_as_json(parse_policies(SUPPORT))["support"]
    assert shown["first_response"]["high"] == "PT1H"
    assert shown["calendar"]["extra_days"] == ["2026-12-24"]


@pytest.mark.parametrize(("text", "message"), [
    ('[support.first_response]\nsevere = "PT1H"\n', "unknown priorities ['severe']"),
    ('[support.resolution]\nlow = "PT0S"\n', "targets must be positive"),
    ("[support]\nbreach_warning_pct = 120\n", "breach_warning_pct must be between"),
    ('[support.calendar]\nopens = "18:00"\n', "opens must come before closes"),
    ('[support.calendar]\ntime_zone = "Mars/Olympus"\n', "unknown time zone 'Mars/Olympus'"),
    ('[support.calendar]\ndays = ["someday"]\n', "[support] calendar.days.0"),
    ('[support]\ncategories = ["general", "billing", "Sim Cards"]\n',
     "categories: ['Sim Cards'] are not names"),
    ('[support]\ncategories = ["general", "technical"]\n',
     "categories must include billing: crmflow opens tickets in them itself"),
])
def test_a_bad_support_table_is_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policies(text, "policies.toml")
    assert message in str(refused.value)


def test_an_empty_holiday_country_means_no_public_holidays() -> None:
    text = '[support.calendar]\nholiday_country = ""\nextra_days = [2026-12-24]\n'
    support = parse_policies(text).support
    assert support.calendar.holiday_country is None
    assert calendar_for(support.calendar, date(2026, 12, 1)).holidays == [date(2026, 12, 24)]


def test_the_ticket_categories_are_the_policy_s() -> None:
    assert parse_policies("").support.categories == [
        "general", "billing", "technical", "complaint", "legal"]
    text = '[support]\ncategories = ["general", "billing", "sim_cards"]\n'
    assert parse_policies(text).support.categories == ["general", "billing", "sim_cards"]
