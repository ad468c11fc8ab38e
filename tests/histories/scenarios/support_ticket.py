"""Recorded scenarios of SupportTicket."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from crm.models import User
from tests import factories
from tests.histories.world import Scenario, World
from tests.waiting import eventually
from tests.workflows.tickets import open_ticket
from workflows.contracts import Person
from workflows.support_ticket import SupportTicket
from workflows.support_types import (
    AgentReply,
    ArrivedDocument,
    Assignment,
    CustomerMessage,
    InfoRequest,
    Rating,
    Reopening,
    Resolution,
    SupportPolicy,
    TaskCompleted,
)

DAY = timedelta(days=1)


def person(user: User) -> Person:
    return Person(user.id, user.name, user.email)


async def routed(handle: WorkflowHandle) -> None:
    """Once the ticket has left 'new' (routing done)."""

    async def left_new() -> bool:
        return (await handle.query(SupportTicket.current_state)).status != "new"

    await eventually(left_new)


async def ticket_answered_resolved_rated(world: World) -> WorkflowHandle:
    team = await factories.support_team(world.sessions)
    agent = team.agent
    _, handle = await open_ticket(world.env.client, world.task_queue, world.sessions,
                                  SupportPolicy(), category="billing", channel="email",
                                  message_id="<first@mail.acme.example>")
    await world.env.sleep(timedelta(hours=1))
    await handle.execute_update(SupportTicket.reply, AgentReply(
        "Let me look.", person(agent), agent.role))
    await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "a proof of address", person(agent), agent.role, check="check the proof document"))
    await world.env.sleep(3 * DAY)
    view = await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "Attached.", "integration", email_message_id="<second@mail.acme.example>"))
    await handle.signal(SupportTicket.task_completed,
                        TaskCompleted(view.open_tasks[0], "proof ok"))
    await world.env.sleep(timedelta(hours=1))
    await handle.execute_update(SupportTicket.resolve, Resolution(
        "Address changed", agent.id, agent.role))
    with contextlib.suppress(RPCError):  # the rating ends the process at once
        await handle.execute_update(SupportTicket.rate, Rating(5, "integration", "thanks"))
    await handle.result()
    return handle


async def ticket_waiting_then_closed_for_silence(world: World) -> WorkflowHandle:
    team = await factories.support_team(world.sessions)
    agent = team.agent
    _, handle = await open_ticket(world.env.client, world.task_queue, world.sessions,
                                  SupportPolicy(), category="general")
    await routed(handle)
    await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "your customer number", person(agent), agent.role))
    await handle.result()
    return handle


async def ticket_queued_breached_reopened(world: World) -> WorkflowHandle:
    team = await factories.support_team(world.sessions)
    _, handle = await open_ticket(world.env.client, world.task_queue, world.sessions,
                                  SupportPolicy(reopen_window=2 * DAY), category="legal",
                                  priority="urgent")
    await world.env.sleep(4 * DAY)  # nobody has the skill: warned, then breached
    await handle.execute_update(SupportTicket.assign, Assignment(
        person(team.other_agent), team.lead.id, team.lead.role))
    agent = team.other_agent
    await handle.execute_update(SupportTicket.resolve, Resolution("Done", agent.id, agent.role))
    await world.env.sleep(DAY)
    await handle.execute_update(SupportTicket.reopen, Reopening("not done", "integration"))
    await handle.execute_update(SupportTicket.resolve, Resolution("Done now", agent.id,
                                                                  agent.role))
    await handle.result()
    return handle


async def ticket_waiting_for_a_proof(world: World) -> WorkflowHandle:
    """Seed 003's lost SIM: the ticket waits for a proof of address, a reply without it is
    only kept, the email carrying it resumes the ticket through the check of it."""
    team = await factories.support_team(world.sessions)
    agent = team.agent
    _, handle = await open_ticket(world.env.client, world.task_queue, world.sessions,
                                  SupportPolicy(), category="general", channel="email",
                                  message_id="<sim@mail.acme.example>")
    await routed(handle)
    await handle.execute_update(SupportTicket.request_info, InfoRequest(
        "a proof of address", person(agent), agent.role, document="proof_of_address"))
    await world.env.sleep(DAY)
    await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "Tonight.", "integration", email_message_id="<tonight@mail.acme.example>"))
    view = await handle.execute_update(SupportTicket.customer_message, CustomerMessage(
        "Here it is.", "integration", email_message_id="<proof@mail.acme.example>",
        documents=[ArrivedDocument(1, "bill.png")]))
    await handle.signal(SupportTicket.task_completed,
                        TaskCompleted(view.open_tasks[0], "address confirmed"))
    await world.env.sleep(timedelta(hours=1))
    await handle.execute_update(SupportTicket.resolve, Resolution(
        "SIM blocked, a new one is on its way", agent.id, agent.role))
    with contextlib.suppress(RPCError):  # the rating ends the process at once
        await handle.execute_update(SupportTicket.rate, Rating(5, "integration", "thanks"))
    await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    "ticket-answered-resolved-rated": ticket_answered_resolved_rated,
    "ticket-waiting-then-closed-for-silence": ticket_waiting_then_closed_for_silence,
    "ticket-queued-breached-reopened": ticket_queued_breached_reopened,
    "ticket-waiting-for-a-proof": ticket_waiting_for_a_proof,
}
