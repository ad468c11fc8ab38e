"""Recorded scenarios of LeadToSale."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle

from tests import factories
from tests.histories.world import Scenario, World
from tests.workflows import starts
from workflows.lead_to_sale import (
    ContentDownload,
    LeadNurturingPolicy,
    LeadToSale,
    MarketingResponse,
    Qualification,
)
from workflows.messages import QuoteProgress

DAY = timedelta(days=1)


async def start_lead(world: World, policy: LeadNurturingPolicy, **lead: Any) -> WorkflowHandle:
    row = await factories.lead(world.sessions, team_id=world.team.rep.team_id, **lead)
    return await starts.start_lead(world.env.client, world.task_queue, row, policy)


async def lead_won(world: World) -> WorkflowHandle:
    """White paper downloaded, rep assigned, qualified, follow-up, a quote won."""
    rep = world.team.rep
    handle = await start_lead(world, LeadNurturingPolicy(step_delay=DAY, lead_ttl=30 * DAY),
                              email="won@acme.example")
    await world.env.sleep(2 * DAY + timedelta(hours=1))
    await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
    await world.env.sleep(timedelta(hours=1))
    await handle.execute_update(LeadToSale.qualify, Qualification(
        True, rep.id, rep.role, "budget confirmed", "a CRM", Decimal(12000)))
    await handle.signal(LeadToSale.marketing_response, MarketingResponse("webinar"))
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(1, "pending_approval"))
    await world.env.sleep(3 * DAY)
    await handle.signal(LeadToSale.quote_progress, QuoteProgress(1, "won"))
    await handle.result()
    return handle


async def lead_dormant(world: World) -> WorkflowHandle:
    """No download: extra case studies, the offer, then dormant."""
    handle = await start_lead(world, LeadNurturingPolicy(), email="quiet@acme.example")
    await handle.result()
    return handle


async def lead_demo_then_disqualified(world: World) -> WorkflowHandle:
    """A demo request jumps ahead, an unsubscribe, then the manager disqualifies."""
    handle = await start_lead(world, LeadNurturingPolicy(), email="demo@acme.example")
    await world.env.sleep(timedelta(hours=1))
    await handle.signal(LeadToSale.demo_requested)
    await world.env.sleep(timedelta(days=4))
    await handle.signal(LeadToSale.unsubscribed)
    manager = world.team.manager
    await handle.execute_update(LeadToSale.qualify, Qualification(
        False, manager.id, manager.role, "a student"))
    await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    "won": lead_won,
    "dormant": lead_dormant,
    "demo-then-disqualified": lead_demo_then_disqualified,
}
