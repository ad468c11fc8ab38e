"""The steps of your own workflows that change the CRM, on the time-skipping server with the
real processes: a status asked of the object's own process (done, or refused in the step,
visibly), a field set (triggering the workflows that follow that field), a support ticket
opened and its process started, once however often the step's activity runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from crm.models import Enrolment, EnrolmentStep, Lead, StatusChange, Ticket
from crm.own import steps
from crm.policies import Policies
from crm.settings import Settings
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.own import enrolled, published
from tests.workflows.starts import start_lead
from workflows.lead_to_sale import LeadNurturingPolicy, LeadToSale, Qualification
from workflows.own.contracts import TicketToOpen

DAY = timedelta(days=1)
NURTURING = LeadNurturingPolicy(step_delay=DAY, content_wait=2 * DAY, max_loops=1,
                                call_task_due=DAY, lead_ttl=60 * DAY)

QUALIFY = """
name: Qualify the demo requests
object: lead
steps:
  - {id: need, set_field: {field: need, value: "A demo for {lead.company}"}}
  - {id: budget, set_field: {field: budget, value: 25000}}
  - id: qualify
    set_status: {status: qualified, reason: "Asked for a demo: qualified by the workflow"}
  - {id: done, end: {outcome: qualified}}
"""

NEED_NOTED = """
name: Thank for the need
object: lead
trigger: {when: field_set, field: need, condition: 'lead.country == "FR"'}
templates:
  thanks: {subject: "Merci {lead.name}", body: "We noted: {lead.need}."}
steps:
  - {id: thanks, send_email: {template: thanks}}
"""


async def notes(h: Harness, enrolment_id: int) -> dict[str, str | None]:
    async with h.sessions() as session:
        return {s.step: s.note for s in await session.scalars(
            select(EnrolmentStep).where(EnrolmentStep.enrolment_id == enrolment_id))}


async def enrolment_of(h: Harness, definition_id: int, lead_id: int) -> Enrolment | None:
    async with h.sessions() as session:
        found: Enrolment | None = await session.scalar(select(Enrolment).where(
            Enrolment.definition_id == definition_id, Enrolment.object_id == lead_id))
        return found


async def test_a_step_qualifies_a_lead_through_its_process_and_the_field_it_set_triggers(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, email="zoe@acme.example", name="Zoé",
                                team_id=team.rep.team_id, owner_id=team.rep.id, country="FR")
    await start_lead(h.env.client, h.task_queue, lead, NURTURING)
    follower = await published(h, NEED_NOTED, team.admin)
    definition = await published(h, QUALIFY, team.admin)
    view = await (await enrolled(h, definition.id, lead.id, team.manager)).result()

    assert (view.status, view.outcome) == ("completed", "qualified")
    async with h.sessions() as session:
        row = await session.get(Lead, lead.id)
        assert row is not None
        assert (row.status, row.need, row.budget) == ("qualified", "A demo for Acme",
                                                     Decimal(25000))
        assert row.account_id is not None  # the process opened the opportunity
        change = await session.scalar(select(StatusChange).where(
            StatusChange.object_id == lead.id, StatusChange.to_status == "qualified"))
        assert change is not None
        assert (change.actor_user_id, change.reason) == (
            team.admin.id, "Asked for a demo: qualified by the workflow")
    row_id = (await enrolment_of(h, definition.id, lead.id)).id  # type: ignore[union-attr]
    assert await notes(h, row_id) == {
        "need": "lead.need set to 'A demo for Acme'",
        "budget": "lead.budget set to 25000",
        "qualify": f"lead {lead.id} is qualified, asked of its process on the word of "
                   f"{team.admin.name}",
        "done": None}

    # Setting the need enrolled the lead in the workflow that follows it (once: the budget
    # is another field), and that one thanked the lead with the need it read.
    [thanks] = await eventually(lambda: [m for m in h.mail.to("zoe@acme.example")
                                         if m.subject == "Merci Zoé"])
    assert "We noted: A demo for Acme." in thanks.text
    async with h.sessions() as session:
        assert await session.scalar(select(func.count(Enrolment.id)).where(
            Enrolment.definition_id == follower.id)) == 1


REFUSED = """
name: Qualify again
object: lead
templates:
  sorry: {subject: "Could not qualify {lead.name}", body: "Its process said no."}
steps:
  - {id: qualify, set_status: {status: qualified, on_refused: tell}}
  - {id: done, end: {outcome: qualified}}
  - {id: tell, notify: {to: owner, template: sorry}}
  - {id: told, end: {outcome: the owner was told}}
"""


async def test_a_status_the_process_does_not_allow_now_is_refused_in_the_step(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, name="Zoé", team_id=team.rep.team_id,
                                owner_id=team.rep.id)
    process = await start_lead(h.env.client, h.task_queue, lead, NURTURING)
    await process.execute_update(LeadToSale.qualify, Qualification(
        False, team.rep.id, team.rep.role, "no budget this year"))
    await eventually(lambda: _status(h, lead.id, "disqualified"))

    with_exit = await published(h, REFUSED, team.admin)
    view = await (await enrolled(h, with_exit.id, lead.id, team.manager)).result()
    assert (view.status, view.step, view.outcome) == ("completed", "told",
                                                     "the owner was told")
    [told] = h.mail.to(team.rep.email)[-1:]
    assert told.subject == "Could not qualify Zoé"
    note = (await notes(h, (await enrolment_of(h, with_exit.id, lead.id)).id))["qualify"]
    assert note is not None and note.startswith(f"refused: lead {lead.id}")
    assert "disqualified" in note

    # Without an exit for the refusal, the enrolment ends there, saying why.
    bare = await published(h, REFUSED.split("templates:")[0] + """steps:
  - {id: qualify, set_status: {status: qualified}}
  - {id: done, end: {outcome: qualified}}
""", team.admin)
    view = await (await enrolled(h, bare.id, lead.id, team.manager)).result()
    assert view.step == "qualify"
    assert view.outcome.startswith(f"refused at step qualify: lead {lead.id}")
    assert await _status(h, lead.id, "disqualified")  # nothing changed


async def _status(h: Harness, lead_id: int, status: str) -> bool:
    async with h.sessions() as session:
        row = await session.get(Lead, lead_id, populate_existing=True)
        return row is not None and row.status == status


TICKET = """
name: Onboarding ticket
object: lead
templates:
  opened: {subject: "A ticket for {lead.name}", body: "Look at it."}
steps:
  - id: onboarding
    start_process: {process: support_ticket, subject: "Onboarding {lead.company}",
                    body: "Set up the account of {lead.name}.", priority: high}
  - {id: check, branch: {if: "onboarding.ticket_id > 0", then: tell, else: lost}}
  - {id: lost, end: {outcome: no ticket}}
  - {id: tell, notify: {to: owner, template: opened}}
"""


async def test_a_step_opens_a_support_ticket_for_the_lead_once_and_starts_its_process(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, email="zoe@acme.example", name="Zoé",
                                team_id=team.rep.team_id, owner_id=team.rep.id)
    definition = await published(h, TICKET, team.admin)
    view = await (await enrolled(h, definition.id, lead.id, team.manager)).result()

    assert view.status == "completed"
    assert [m.subject for m in h.mail.to(team.rep.email)] == ["A ticket for Zoé"]
    async with h.sessions() as session:
        [ticket] = await session.scalars(select(Ticket))
    assert (ticket.requester_email, ticket.subject, ticket.priority, ticket.channel) == (
        "zoe@acme.example", "Onboarding Acme", "high", "workflow")
    row_id = (await enrolment_of(h, definition.id, lead.id)).id  # type: ignore[union-attr]
    assert (await notes(h, row_id))["onboarding"] == (
        f"ticket {ticket.id} opened for zoe@acme.example")
    described = await h.env.client.get_workflow_handle(f"ticket-{ticket.id}").describe()
    assert described.workflow_type == "SupportTicket"

    # The step's activity tried again (a worker lost after the commit) finds that ticket.
    again = TicketToOpen(row_id, "lead", lead.id, "Onboarding Acme", "Set up.", "general",
                         "high", f"definition-{definition.id}-lead-{lead.id}:onboarding:1")
    async with h.sessions() as session:
        done = await steps.open_ticket(session, h.env.client,
                                       Settings(temporal_task_queue=h.task_queue),
                                       Policies(), again)
        assert (done.done, done.ticket_id) == (True, ticket.id)
        assert await session.scalar(select(func.count(Ticket.id))) == 1


TOO_LONG = """
name: Company from the need
object: lead
steps:
  - {id: company, set_field: {field: company, value: "{lead.need} ({lead.name})"}}
"""


async def test_a_value_longer_than_its_field_is_refused_and_nothing_is_written(
    harness: Harness,
) -> None:
    h = harness
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id, need="N" * 190)
    definition = await published(h, TOO_LONG, team.admin)
    view = await (await enrolled(h, definition.id, lead.id, team.manager)).result()
    assert view.outcome == ("refused at step company: lead.company holds at most 200 "
                            "characters; the value has 203")
    async with h.sessions() as session:
        row = await session.get(Lead, lead.id)
        assert row is not None and row.company == "Acme"


async def test_a_status_is_asked_on_the_word_of_the_publisher_and_their_rights_hold(
    harness: Harness,
) -> None:
    """A support lead may publish a lead workflow, but may not qualify leads: neither may
    the workflow they published."""
    h = harness
    team = await factories.sales_team(h.sessions)
    support = await factories.support_team(h.sessions)
    lead = await factories.lead(h.sessions, team_id=team.rep.team_id, need="a CRM",
                                budget=Decimal(9000))
    await start_lead(h.env.client, h.task_queue, lead, NURTURING)
    definition = await published(h, QUALIFY.split("steps:")[0] + """steps:
  - {id: qualify, set_status: {status: qualified}}
""", support.lead)
    view = await (await enrolled(h, definition.id, lead.id, team.manager)).result()
    assert view.outcome == (f"refused at step qualify: lead {lead.id}: its process refused: "
                            f"only sales reps, sales managers and admins qualify leads")
    assert not await _status(h, lead.id, "qualified")
