"""Every number of every view, against a hand computation over tests/insights/history.py,
on SQLite and on PostgreSQL. Times are October 2026 on Paris's wall clock; the period is
31 days and one hour long (summer time ends on the 25th)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm import db
from crm.insights import views
from crm.insights.charts import Chart, Refused, Slice
from crm.insights.views import Asked
from tests.insights.history import PARIS, SINCE, UNTIL, Known, build


@pytest.fixture
async def known(sessions: db.Sessions) -> Known:
    return await build(sessions)


def october(team: int | None = None, owner: int | None = None) -> Slice:
    return Slice(SINCE, UNTIL, team, owner, PARIS)


async def view(sessions: db.Sessions, name: str, asked: Asked, where: Slice) -> Chart:
    async with sessions() as session:
        return await views.VIEWS[name](session, asked, where)


def table(chart: Chart, *columns: str) -> list[tuple[object, ...]]:
    return [tuple(row[column] for column in columns) for row in chart.rows]


async def test_the_lead_funnel_counts_each_stage_reached_or_passed(
    sessions: db.Sessions, known: Known,
) -> None:
    sales = known.team.rep.team_id
    chart = await view(sessions, "funnel", Asked("lead_to_sale"), october(team=sales))
    # L1 won (through a submitted quote), L2 qualified straight from new (passing engaged),
    # L3 engaged then disqualified, L4 nurtured then dormant; L5 and L7 were born in
    # September, L6 is another team's.
    assert table(chart, "stage", "reached", "of_previous", "of_all") == [
        ("lead", 4, None, 1.0), ("engaged", 3, 0.75, 0.75), ("qualified", 2, 0.6667, 0.5),
        ("quoted", 1, 0.5, 0.25), ("won", 1, 1.0, 0.25)]
    everyone = await view(sessions, "funnel", Asked("lead_to_sale"), october())
    assert table(everyone, "reached") == [(5,), (4,), (3,), (1,), (1,)]
    owner = await view(sessions, "funnel", Asked("lead_to_sale"),
                       october(owner=known.team.other_rep.id))
    assert table(owner, "reached") == [(0,), (0,), (0,), (0,), (0,)]


async def test_a_process_funnel_counts_the_cases_born_that_entered_each_status(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "funnel", Asked("quote_approval"), october())
    reached = {row["stage"]: (row["reached"], row["of_all"]) for row in chart.rows}
    assert reached == {
        "draft": (6, 1.0), "submitted": (6, 1.0), "validated": (3, 0.5),
        "pending_approval": (4, 0.6667), "rejected": (2, 0.3333), "escalated": (1, 0.1667),
        "sent": (2, 0.3333), "expired": (0, 0.0), "won": (1, 0.1667), "lost": (0, 0.0)}
    assert [row["stage"] for row in chart.rows][:3] == ["draft", "submitted", "validated"]


async def test_cycle_times_are_the_stays_that_ended_in_the_period(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "cycle-times", Asked("lead_to_sale"),
                       october(team=known.team.rep.team_id))
    leads = known.leads
    # new: L1 24 h, L2 6 h, L3 12 h, L4 1 h (L7's ended in September); nurturing: L3 72 h,
    # L4 312 h; engaged: L1 48 h, L3 24 h, L7 168 h (born in September, left in October);
    # qualified: L1 120 h. p50 is the ⌈n/2⌉-th smallest, p90 the ⌈0.9 n⌉-th.
    assert table(chart, "status", "stays", "p50_hours", "p90_hours", "mean_hours") == [
        ("new", 4, 6.0, 24.0, 10.75), ("nurturing", 2, 72.0, 312.0, 192.0),
        ("engaged", 3, 48.0, 168.0, 80.0), ("qualified", 1, 120.0, 120.0, 120.0)]
    assert chart.rows[0]["slowest"] == [leads["L1"], leads["L3"], leads["L2"], leads["L4"]]
    assert chart.rows[2]["slowest"] == [leads["L7"], leads["L1"], leads["L3"]]
    assert chart.extra["bottleneck"] == "qualified"


async def test_an_invoice_reminded_again_while_overdue_stays_overdue(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "cycle-times", Asked("invoice_dunning"), october())
    stays = {row["status"]: (row["stays"], row["p50_hours"], row["slowest"])
             for row in chart.rows}
    invoices = known.invoices
    # Born at midnight in Paris (22:00 UTC the day before), moved at midnight UTC. open:
    # I1 19 d 2 h (458 h, to paid), I2, I3 and I4 15 d 2 h (362 h), I6 9 d 2 h (218 h).
    # overdue: I2 192 h (the reminder of the 27th kept it overdue; its promise on the 28th
    # ended the stay), I3 24 h, I4 24 h. promised: I3 96 h (broken on the 30th); I2's ended
    # in November, I6's goes on.
    assert stays == {
        "open": (5, 362.0, [invoices[n] for n in ("I1", "I4", "I3", "I2", "I6")]),
        "overdue": (3, 24.0, [invoices[n] for n in ("I2", "I4", "I3")]),
        "promised": (1, 96.0, [invoices["I3"]])}
    assert chart.rows[0]["mean_hours"] == (458 + 3 * 362 + 218) / 5
    assert chart.extra["bottleneck"] == "open"


async def test_approvals_by_approver_and_by_the_timeout_rule(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "approvals", Asked(), october(team=known.team.rep.team_id))
    quotes = known.quotes
    # Q1 waited 30 h for Maria, Q4 6 h; Q3 was validated by the rule after 120 h; Q5 was
    # escalated, then rejected by Ada 144 h after it was asked. Q2 and Q6 needed none.
    assert table(chart, "approver", "decisions", "validated", "rejected", "share",
                 "p50_hours", "p90_hours", "slowest") == [
        ("Maria", 2, 1, 1, 0.5, 6.0, 30.0, [quotes["Q1"], quotes["Q4"]]),
        ("Ada", 1, 0, 1, 0.25, 144.0, 144.0, [quotes["Q5"]]),
        ("the timeout rule", 1, 1, 0, 0.25, 120.0, 120.0, [quotes["Q3"]])]
    assert (chart.extra["submitted"], chart.extra["needed_approval"],
            chart.extra["needed_share"], chart.extra["decided_by_rule_share"]) == (
        6, 4, 0.6667, 0.25)


async def test_support_targets_per_priority_opened_with_and_team(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "sla", Asked(), october())
    # T2 was opened high and escalated to urgent by its breach: it counts with high.
    assert table(chart, "priority", "team", "tickets", "first_response_met",
                 "first_response_missed", "first_response_attainment", "resolution_met",
                 "resolution_missed", "resolution_attainment", "resolved", "reopened",
                 "reopen_rate", "ratings", "mean_rating") == [
        ("high", "Support", 3, 1, 2, 0.3333, 1, 1, 0.5, 2, 1, 0.5, 2, 3.5),
        ("normal", "", 1, 0, 0, None, 0, 0, None, 0, 0, None, 0, None),
        ("normal", "Support", 1, 1, 0, 1.0, 0, 0, None, 0, 0, None, 0, None)]
    assert chart.extra["breaches_by_category"] == [
        {"category": "billing", "tickets": 1, "first_response_missed": 1,
         "resolution_missed": 0},
        {"category": "network", "tickets": 2, "first_response_missed": 0,
         "resolution_missed": 0},
        {"category": "sim", "tickets": 2, "first_response_missed": 1, "resolution_missed": 1}]
    assert chart.extra["ratings"] == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    team = await view(sessions, "sla", Asked(), october(team=known.support.lead.team_id))
    assert table(team, "priority", "team", "tickets") == [
        ("high", "Support", 3), ("normal", "Support", 1)]


async def test_cash_by_ladder_level_days_sales_outstanding_and_promises(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "cash", Asked(), october())
    # I5 was issued on 30 September. Level 0: I1 (paid) and I6 (400, credited 100, promised);
    # level 1: I3 (2,000, 500 paid); level 2: I2 (500 + 20 late fee, paid on 3 November);
    # level 3: I4 (written off).
    assert table(chart, "level", "invoices", "invoiced", "collected", "paid",
                 "open_balance") == [
        (0, 2, 1400.0, 1000.0, 1, 300.0), (1, 1, 2000.0, 500.0, 0, 1500.0),
        (2, 1, 520.0, 520.0, 1, 0.0), (3, 1, 300.0, 0.0, 0, 0.0)]
    # Owed at the period's end: I2 520 (paid after it), I3 1,500, I6 300 = 2,320 of 4,220
    # invoiced, over 31 days and 1 hour: 17.07 days.
    assert chart.extra["days_sales_outstanding"] == round(2320 / 4220 * (31 + 1 / 24), 1)
    assert chart.extra["days_sales_outstanding"] == 17.1
    # I2's promise was kept (paid), I3's broken (overdue again), I6's still pending.
    assert chart.extra["promises"] == {"kept": 1, "broken": 1, "pending": 1}


async def test_the_forecast_weights_open_quotes_by_their_stage_s_win_rate(
    sessions: db.Sessions, known: Known,
) -> None:
    chart = await view(sessions, "forecast", Asked(), october(team=known.team.rep.team_id))
    # Closed: Q1 won, Q4 and Q5 rejected. Win rates: submitted and pending approval 1/3,
    # escalated 0, validated and sent 1/1. Open: Q2 sent, 1,000 - 10 % = 900, valid until
    # 31 Oct 23:00 UTC (1 November in Paris); Q3 validated, 1,234.56 - 25 % (308.64) =
    # 925.92, valid until 15 November; Q6 submitted, 300, no date: 300 x 1/3 = 100.
    assert table(chart, "month", "quotes", "pipeline", "weighted") == [
        ("2026-11", 2, 1825.92, 1825.92), ("undated", 1, 300.0, 100.0)]
    rates = {stage: (rate["closed"], rate["won"], rate["rate"])
             for stage, rate in chart.extra["win_rates"].items()}
    assert rates == {"submitted": (3, 1, 0.3333), "pending_approval": (3, 1, 0.3333),
                     "escalated": (1, 0, 0.0), "validated": (1, 1, 1.0), "sent": (1, 1, 1.0)}
    # Alice: Q1 drafted 3 Oct 10:00, won 10 Oct 09:00: 6 days 23 hours.
    assert chart.extra["reps"] == [{
        "rep": "Alice", "rep_id": known.team.rep.id, "open_quotes": 3, "pipeline": 2125.92,
        "weighted": 1925.92, "closed": 3, "won": 1, "win_rate": 0.3333,
        "days_to_win_p50": 7.0}]


async def test_a_workflow_of_your_own_by_its_steps(sessions: db.Sessions, known: Known) -> None:
    asked = Asked(definition_id=known.definition_id)
    funnel = await view(sessions, "funnel", asked, october())
    assert table(funnel, "stage", "reached") == [
        ("enrolled", 2), ("welcome", 2), ("pause", 2), ("offer", 1)]
    # E1: welcome 2 h, pause 72 h, offer 0 h (it ended there); E2: welcome 1 h, still paused.
    cycle = await view(sessions, "cycle-times", asked, october())
    assert table(cycle, "status", "stays", "p50_hours", "p90_hours") == [
        ("welcome", 2, 1.0, 2.0), ("pause", 1, 72.0, 72.0), ("offer", 1, 0.0, 0.0)]
    assert cycle.extra == {"of": "step", "bottleneck": "pause"}


async def test_what_a_view_cannot_answer_is_refused_naming_the_parameter(
    sessions: db.Sessions, known: Known,
) -> None:
    refusals = [
        ("funnel", Asked("cooking"), october(), "process"),
        ("funnel", Asked(), october(), "process"),
        ("cash", Asked(), october(team=1), "team"),
        ("funnel", Asked("invoice_dunning"), october(owner=1), "owner"),
        ("sla", Asked("quote_approval"), october(), "process"),
    ]
    for name, asked, where, field in refusals:
        with pytest.raises(Refused) as refused:
            await view(sessions, name, asked, where)
        assert refused.value.field == field, (name, asked)


async def test_a_chart_is_also_its_csv(sessions: db.Sessions, known: Known) -> None:
    chart = await view(sessions, "cycle-times", Asked("lead_to_sale"),
                       Slice(datetime(2026, 10, 4, tzinfo=UTC), UNTIL, zone=PARIS))
    lines = chart.as_csv().splitlines()
    assert lines[0] == "status,stays,p50_hours,p90_hours,mean_hours,slowest"
    # From 4 October, everyone's: L2, L3, L4 and L6 (another team's) left new.
    assert lines[1].startswith("new,4,")
