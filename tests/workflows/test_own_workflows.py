"""Your own workflows, run by the interpreter on the time-skipping server with the real
activities: the emails that arrive, the tasks made, the enrolment's rows, version pinning."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from crm.models import Enrolment, EnrolmentStep, Task
from crm.own import enrolments
from crm.settings import Settings
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.own import ENTERPRISE_FR, LOOP, enrolled, published, republished
from tests.workflows.starts import start_lead
from workflows.lead_to_sale import LeadNurturingPolicy, LeadToSale, Qualification
from workflows.own.interpreter import Cancellation, OwnWorkflow

DAY = timedelta(days=1)



async def enrolment_row(h: Harness, enrolment_id: int) -> Enrolment:
    async with h.sessions() as session:
        row = await session.get(Enrolment, enrolment_id)
        assert row is not None
        return row


async def steps_entered(h: Harness, enrolment_id: int) -> list[tuple[str, int]]:
    async with h.sessions() as session:
        return [(s.step, s.visit) for s in await session.scalars(
            select(EnrolmentStep).where(EnrolmentStep.enrolment_id == enrolment_id)
            .order_by(EnrolmentStep.id))]


async def tasks(h: Harness) -> list[tuple[str, int | None]]:
    async with h.sessions() as session:
        return [(t.title, t.assignee_id) for t in await session.scalars(
            select(Task).order_by(Task.id))]


async def test_a_lead_not_qualified_in_time_gets_a_call_a_reminder_and_an_escalation(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    owner = team.other_rep
    for _ in range(2):  # Alice follows two leads, Bob one (Zoé): Bob is the least loaded
        await factories.lead(h.sessions, team_id=owner.team_id, owner_id=team.rep.id)
    lead = await factories.lead(h.sessions, email="zoe@acme.example", name="Zoé",
                                team_id=owner.team_id, owner_id=owner.id, country="FR",
                                budget=Decimal(50000))
    definition = await published(h, ENTERPRISE_FR, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.manager)

    await eventually(lambda: h.mail.to("zoe@acme.example"))
    welcome = h.mail.to("zoe@acme.example")[0]
    assert welcome.subject == "Bienvenue, Zoé"
    assert "Hello Zoé of Acme." in welcome.text
    assert await tasks(h) == []  # two working days first

    await h.env.sleep(4 * DAY)  # past the second working day (whatever today is)
    await eventually(lambda: tasks(h))
    assert await tasks(h) == [("Call Zoé", owner.id)]
    view = await handle.result()
    assert (view.status, view.step, view.outcome) == (
        "completed", "escalated", "escalated to the manager")
    assert [m.subject for m in h.mail.to(owner.email)] == ["Lead Zoé is not qualified yet"]
    assert await tasks(h) == [("Call Zoé", owner.id),
                              ("Lead Zoé: not qualified in 5 days", team.manager.id)]
    row = await enrolment_row(h, view_id := (await enrolment_of(h, lead.id)).id)
    assert (row.status, row.step, row.outcome) == (
        "completed", "escalated", "escalated to the manager")
    assert await steps_entered(h, view_id) == [
        ("welcome", 1), ("pause", 1), ("call", 1), ("qualified_in_time", 1), ("remind", 1),
        ("escalate", 1), ("escalated", 1)]


async def enrolment_of(h: Harness, lead_id: int) -> Enrolment:
    async with h.sessions() as session:
        found = await session.scalar(select(Enrolment).where(Enrolment.object_id == lead_id))
        assert found is not None
        return found


async def test_the_goal_ends_the_enrolment_when_the_lead_is_qualified(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id, owner_id=team.rep.id,
                                country="FR", budget=Decimal(20000))
    process = await start_lead(h.env.client, h.task_queue, lead, LeadNurturingPolicy())
    definition = await published(h, ENTERPRISE_FR, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)
    await h.env.sleep(5 * DAY)
    await eventually(lambda: tasks(h))  # the call is asked for

    # The rep qualifies the lead through its own process, which records the status change:
    # the enrolment hears of it and reaches its goal.
    await process.execute_update(LeadToSale.qualify, Qualification(
        True, team.rep.id, team.rep.role, "budget confirmed", "a CRM", Decimal(20000)))

    view = await handle.result()
    assert (view.status, view.step) == ("goal_reached", "qualified_in_time")
    assert h.mail.to(team.rep.email) == []  # no reminder
    assert [title for title, _ in await tasks(h)] == ["Call Jane Buyer"]
    assert (await enrolment_row(h, (await enrolment_of(h, lead.id)).id)).status == (
        "goal_reached")




async def test_a_feedback_loop_goes_round_its_count_then_on(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    definition = await published(h, LOOP, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)

    view = await handle.result()
    assert view.status == "completed" and view.visits["send_paper"] == 3
    assert [m.subject for m in h.mail.to(lead.email)] == [
        "Our white paper, Jane Buyer"] * 3 + ["An offer"]


async def test_an_event_takes_the_other_exit(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    definition = await published(h, LOOP, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)
    await eventually(lambda: h.mail.to(lead.email))
    await h.env.sleep(DAY)
    async with h.sessions() as session:
        await enrolments.tell(session=session, client=h.env.client,
                              settings=Settings(temporal_task_queue=h.task_queue),
                              object_type="lead", object_id=lead.id, event="content_downloaded")
    view = await handle.result()
    assert (view.status, view.outcome, view.step) == ("completed", "downloaded", "demo")
    assert len(h.mail.to(lead.email)) == 1


async def test_each_enrolment_keeps_the_version_it_started_with(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    first = await factories.lead(h.sessions, team_id=team.rep.team_id)
    second = await factories.lead(h.sessions, team_id=team.rep.team_id)
    v1 = LOOP.replace("10 % off.", "version one").replace('"An offer"', '"Offer v1"')
    v2 = LOOP.replace("10 % off.", "version two").replace('"An offer"', '"Offer v2"')
    definition = await published(h, v1, team.admin)
    one = await enrolled(h, definition.id, first.id, team.admin)
    await eventually(lambda: h.mail.to(first.email))
    assert await republished(h, definition.id, v2, team.admin) == 2
    two = await enrolled(h, definition.id, second.id, team.admin)

    await one.result()
    await two.result()
    assert h.mail.to(first.email)[-1].subject == "Offer v1"
    assert h.mail.to(second.email)[-1].subject == "Offer v2"
    assert [(e.object_id, e.version) for e in [await enrolment_of(h, first.id),
                                                await enrolment_of(h, second.id)]] == [
        (first.id, 1), (second.id, 2)]


async def test_a_cancelled_enrolment_stops_where_it_is(harness: Harness) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id)
    definition = await published(h, LOOP, team.admin)
    handle = await enrolled(h, definition.id, lead.id, team.admin)
    async def waiting() -> bool:
        return (await handle.query(OwnWorkflow.current)).step == "downloaded"

    await eventually(waiting)
    await handle.execute_update(OwnWorkflow.cancel, Cancellation(team.admin.id, "wrong list"))
    view = await handle.result()
    assert (view.status, view.outcome, view.step) == ("cancelled", "wrong list", "downloaded")
    assert len(h.mail.to(lead.email)) == 1
    row = await enrolment_of(h, lead.id)
    assert (row.status, row.outcome) == ("cancelled", "wrong list")
