"""Recorded scenarios of OwnWorkflow, the interpreter of your own workflows."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from temporalio.client import WorkflowHandle

from crm.own import enrolments, reading
from crm.settings import Settings
from tests import factories
from tests.histories.world import Scenario, World
from tests.workflows.own import ENTERPRISE_FR, LOOP, enrolled, published
from tests.workflows.starts import start_lead
from workflows.lead_to_sale import LeadNurturingPolicy
from workflows.own.interpreter import ApprovalDecision, OwnWorkflow
from workflows.own.scheduled import ScheduledEnrolments, ScheduledRun

DAY = timedelta(days=1)


async def enterprise_lead_escalated(world: World) -> WorkflowHandle:
    team = world.team
    lead = await factories.lead(world.sessions, team_id=team.rep.team_id,
                                owner_id=team.rep.id, country="FR", budget=Decimal(50000))
    definition = await published(world, ENTERPRISE_FR, team.admin)
    handle = await enrolled(world, definition.id, lead.id, team.manager)
    await handle.result()
    return handle


async def white_paper_loop_then_downloaded(world: World) -> WorkflowHandle:
    team = world.team
    lead = await factories.lead(world.sessions, team_id=team.rep.team_id)
    definition = await published(world, LOOP, team.admin)
    handle = await enrolled(world, definition.id, lead.id, team.admin)
    await world.env.sleep(4 * DAY)  # one round of the loop: the paper is sent again
    async with world.sessions() as session:
        await enrolments.tell(session=session, client=world.env.client,
                              settings=Settings(temporal_task_queue=world.task_queue),
                              object_type="lead", object_id=lead.id,
                              event="content_downloaded")
    await handle.result()
    return handle


async def quote_rule_reminded_then_rejected(world: World) -> WorkflowHandle:
    """Seed 000's rule (the predefined definition): asked, reminded twice, rejected."""
    team = world.team
    lead = await factories.qualified_lead(world.sessions, team.rep)
    quote = await factories.quote(world.sessions, lead, team.rep, discount_pct="25")
    definition = await published(world, reading.predefined()["quote-approval"], team.admin)
    handle = await enrolled(world, definition.id, quote.id, team.admin)
    await world.env.sleep(2 * DAY + timedelta(hours=3))
    manager = team.manager
    await handle.execute_update(OwnWorkflow.decide, ApprovalDecision(
        manager.id, manager.role, manager.team_id, False, "25 % is too much"))
    await handle.result()
    return handle


SCHEDULED = """
name: Monday follow-up
object: lead
trigger: {when: schedule, days: [monday], at: "09:00", condition: 'lead.country == "FR"'}
templates:
  hello: {subject: "Bonne semaine, {lead.name}", body: "À lundi."}
steps:
  - {id: hello, send_email: {template: hello}}
"""


async def scheduled_run_enrols_the_french_lead(world: World) -> WorkflowHandle:
    """A scheduled trigger's run (started as its Temporal Schedule starts it)."""
    team = world.team
    for country in ("FR", "DE"):
        await factories.lead(world.sessions, team_id=team.rep.team_id, country=country)
    definition = await published(world, SCHEDULED, team.admin)
    handle = await world.env.client.start_workflow(
        ScheduledEnrolments.run, ScheduledRun(definition.id),
        id=f"definition-{definition.id}-schedule-run", task_queue=world.task_queue)
    assert await handle.result() == 1
    return handle


CRM_STEPS = """
name: Demo request to support
object: lead
steps:
  - {id: need, set_field: {field: need, value: "A demo for {lead.company}"}}
  - {id: budget, set_field: {field: budget, value: 25000}}
  - {id: qualify, set_status: {status: qualified, reason: "Asked for a demo"}}
  - id: onboarding
    start_process: {process: support_ticket, subject: "Onboarding {lead.company}",
                    priority: high}
  - {id: again, set_status: {status: qualified, on_refused: done}}
  - {id: done, end: {outcome: "handed to support"}}
"""


async def lead_qualified_then_a_ticket_opened(world: World) -> WorkflowHandle:
    """Fields set, the status asked of the lead's process, a ticket opened, and a second
    ask refused by the process (qualified already) taking its exit."""
    team = world.team
    lead = await factories.lead(world.sessions, team_id=team.rep.team_id,
                                owner_id=team.rep.id)
    await start_lead(world.env.client, world.task_queue, lead,
                     LeadNurturingPolicy(step_delay=DAY, content_wait=2 * DAY, max_loops=1,
                                         call_task_due=DAY, lead_ttl=60 * DAY))
    definition = await published(world, CRM_STEPS, team.admin)
    handle = await enrolled(world, definition.id, lead.id, team.manager)
    view = await handle.result()
    assert (view.step, view.outcome) == ("done", "handed to support"), view
    return handle


SCENARIOS: dict[str, Scenario] = {
    "enterprise-lead-escalated": enterprise_lead_escalated,
    "white-paper-loop-then-downloaded": white_paper_loop_then_downloaded,
    "quote-rule-reminded-then-rejected": quote_rule_reminded_then_rejected,
    "scheduled-run-enrols-the-french-lead": scheduled_run_enrols_the_french_lead,
    "lead-qualified-then-a-ticket-opened": lead_qualified_then_a_ticket_opened,
}
