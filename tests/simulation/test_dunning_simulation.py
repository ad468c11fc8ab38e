"""Simulating a change of the dunning ladder over past invoices: the payments replayed at
their real distance from the due date; the invoices that would reach collections counted by
hand from the ladder's days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm import db
from simulation import report
from simulation.cases import Selection, past_cases
from simulation.engine import Simulator
from simulation.invoices import INVOICES
from tests import factories
from tests.simulation.cases import past_invoice
from tests.simulation.test_quote_simulation import rows
from workflows.dunning_ladder import DunningLevel, DunningPolicy, default_ladder

DAY = timedelta(days=1)
ISSUED = datetime(2026, 8, 3, 9, 30, tzinfo=UTC)


def sooner_notice_and_collections() -> DunningPolicy:
    """The formal notice at 21 days instead of 30, collections at 40 instead of 45."""
    courtesy, first, second, _, _ = default_ladder()
    return DunningPolicy(levels=[
        courtesy, first, second,
        DunningLevel(21 * DAY, ["email", "late_fee", "task"], "dunning_formal_notice"),
        DunningLevel(40 * DAY, ["collections"])])


async def test_collections_at_forty_days_catches_the_invoice_paid_on_day_forty_two(
    database_url: str,
) -> None:
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    account = await factories.customer(sessions)
    await factories.accountant(sessions)
    late = await past_invoice(sessions, account, "1000.00", ISSUED, 30 * DAY,
                              (42 * DAY, "1050.00"))  # the late fee of the formal notice too
    soon = await past_invoice(sessions, account, "1000.00", ISSUED + DAY, 30 * DAY,
                              (10 * DAY, "1000.00"))
    never = await past_invoice(sessions, account, "1000.00", ISSUED + 2 * DAY, 30 * DAY)
    before = await rows(sessions)

    async with sessions() as session:
        cases = await past_cases(session, INVOICES, Selection(since=ISSUED), limit=10)
    assert [c.name for c in cases] == [f"invoice {n}" for n in (late, soon, never)]
    results = await Simulator(sessions, INVOICES).run(
        cases, DunningPolicy(), sooner_notice_and_collections())
    found = report.summary(results)

    # Reached collections: today the invoice never paid (45 days late); with collections at
    # 40 days, also the one paid on day 42 — after its hand-off.
    assert found["outcomes"] == {"current": {"paid": 2, "in_collections": 1},
                                 "proposed": {"in_collections": 2, "paid": 1}}
    assert found["changed"] == {"paid → in_collections": [f"invoice {late}"]}
    assert found["sooner"] == [f"invoice {never}"]
    # Hours from the issue (09:30) to the outcome: the ladder's days count from the due
    # date's midnight, 29 days and 14.5 hours after the issue.
    def day(k: int) -> float:
        return 29 * 24 + 14.5 + 24 * k

    assert found["time_to_outcome_hours"] == {
        "current": {"p50": day(42), "p90": day(45)},  # paid on day 10, 42; collections 45
        "proposed": {"p50": day(40), "p90": day(40)}}  # paid on day 10; collections 40, 40
    # Each formal notice asks an accountant to call, each hand-off to hand the invoice on.
    assert found["work"]["current"]["tasks"] == 3
    assert found["work"]["proposed"]["tasks"] == 4
    timeline = {c["case"]: c["proposed"]["timeline"] for c in report.cases(results)}
    notices = [m["after"] / 86400 for m in timeline[f"invoice {never}"]
               if m["what"] == "dunning_formal_notice"]
    assert notices == [day(21) / 24]

    assert await rows(sessions) == before
    await engine.dispose()
