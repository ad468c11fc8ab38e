"""Simulating the quote rule over past cases: each case run twice with the real QuoteApproval
code on a time-skipping server of its own, fed with what people really did at their
offsets. The numbers below are computed by hand from the four cases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crm import db
from crm.models import Base
from simulation import report
from simulation.cases import Selection, past_cases
from simulation.engine import Simulator
from simulation.quotes import QUOTES
from tests import factories
from tests.simulation.cases import HOUR, LAST_QUARTER, Decision, past_quote
from workflows.quote_types import QuoteApprovalPolicy

DAY = timedelta(days=1)
IN_FORCE = QuoteApprovalPolicy()  # 20 %, 5 days, validated by rule, daily reminders


async def rows(sessions: db.Sessions) -> dict[str, int]:
    async with sessions() as session:
        return {table.name: await session.scalar(select(func.count()).select_from(table))
                for table in Base.metadata.sorted_tables}


async def test_a_two_day_timeout_validates_earlier_and_overturns_a_late_rejection(
    database_url: str,
) -> None:
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    day = LAST_QUARTER
    nobody = await past_quote(sessions, team, "25", day)
    late = await past_quote(sessions, team, "30", day + DAY,
                            Decision(3 * DAY, "rejected", team.manager, "too much"))
    small = await past_quote(sessions, team, "10", day + 2 * DAY)
    early = await past_quote(sessions, team, "25", day + 3 * DAY,
                             Decision(DAY, "validated", team.other_manager, "fine"),
                             Decision(DAY + 2 * HOUR, "sent", team.rep),
                             Decision(4 * DAY, "won", None, "signed"))
    before = await rows(sessions)

    async with sessions() as session:
        cases = await past_cases(session, QUOTES, Selection(since=day), limit=10)
    assert [c.object_id for c in cases] == [nobody, late, small, early]
    proposed = QuoteApprovalPolicy(approval_timeout=2 * DAY)
    results = await Simulator(sessions, QUOTES).run(cases, IN_FORCE, proposed)
    found = report.summary(results)

    name = {n: f"quote {n} submission 1" for n in (nobody, late, small, early)}
    assert found["changed"] == {"rejected → validated": [name[late]]}
    assert found["sooner"] == [name[nobody]]  # validated on day 2 instead of day 5
    assert found["later"] == []
    assert found["outcomes"] == {"current": {"validated": 3, "rejected": 1},
                                 "proposed": {"validated": 4}}
    # Hours to the outcome: 0, 24, 72, 120 today; 0, 24, 48, 48 with two days.
    assert found["time_to_outcome_hours"] == {"current": {"p50": 24.0, "p90": 120.0},
                                              "proposed": {"p50": 24.0, "p90": 48.0}}
    # Two managers asked for each quote over 20 %; reminded daily while it waits: 4 days
    # (nobody), 2 (late, rejected on day 3), 0 (early, approved on day 1) — 1 and 1 with
    # the 2-day timeout.
    assert found["work"] == {"current": {"decisions_asked": 6, "reminders": 12, "tasks": 0},
                             "proposed": {"decisions_asked": 6, "reminders": 4, "tasks": 0}}
    assert found["emails"]["removed"]["approval_reminder"].count(name[nobody]) == 6
    assert found["unanswered"] == [name[nobody]]
    assert found["not_taken"] == [name[late]]

    by_case = {c["case"]: c for c in report.cases(results)}
    late_run = by_case[name[late]]["proposed"]
    assert late_run["outcome"] == "validated" and late_run["decided_after_hours"] == 48.0
    [refused] = late_run["not_taken"]
    assert refused.startswith("rejected by Maria after 3.0 days: ")
    won = by_case[name[early]]
    assert (won["current"]["ended"], won["proposed"]["ended"]) == ("won", "won")
    statuses = [(m["after"] / 3600, m["what"]) for m in won["current"]["timeline"]
                if m["kind"] == "status"]
    assert statuses == [(0, "pending_approval"), (24, "validated"), (26, "sent"),
                        (96, "won")]
    timers = [(m["after"] / 3600, m["what"], m["differs"])
              for m in by_case[name[nobody]]["proposed"]["timeline"] if m["kind"] == "timer"]
    assert timers == [(0, "Wait for approval (2 days): reminder 1 in 1 day", True),
                      (24, "Wait for approval (2 days): 1 day left", True),
                      (48, "Wait for the rep to send the quote (30 days)", True)]

    # It touched no CRM row.
    assert await rows(sessions) == before
    await engine.dispose()
