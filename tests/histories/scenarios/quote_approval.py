"""Recorded scenarios of QuoteApproval."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio.client import WorkflowHandle
from temporalio.service import RPCError

from crm.models import User
from tests.histories.world import Scenario, World
from tests.workflows import starts
from workflows.project_types import Cancellation
from workflows.quote_approval import (
    CustomerResponse,
    ManagerDecision,
    QuoteApproval,
    QuoteApprovalPolicy,
    QuoteSending,
)
from workflows.sale_to_project import SaleToProject


async def start_quote(world: World, discount: str, policy: QuoteApprovalPolicy) -> WorkflowHandle:
    _, handle = await starts.submit_quote(world.env.client, world.task_queue, world.sessions,
                                          world.team.rep, discount, policy)
    await handle.execute_update(QuoteApproval.submission_outcome)
    return handle


async def answer(handle: WorkflowHandle, response: CustomerResponse) -> None:
    """The customer's answer ends the process at once, and the time-skipping server forgets
    an update whose workflow has completed ("update … not found"): the answer is taken, as
    the workflow's result shows."""
    with contextlib.suppress(RPCError):
        await handle.execute_update(QuoteApproval.customer_answered, response)


def decision(user: User, approve: bool, comment: str) -> ManagerDecision:
    return ManagerDecision(approve, user.id, user.role, user.team_id, comment)


async def quote_approved_won(world: World) -> WorkflowHandle:
    handle = await start_quote(world, "25", QuoteApprovalPolicy())
    await world.env.sleep(timedelta(days=1, hours=6))
    await handle.execute_update(QuoteApproval.decide,
                                decision(world.team.manager, True, "strategic"))
    rep = world.team.rep
    await handle.execute_update(QuoteApproval.send_to_customer, QuoteSending(rep.id, rep.role))
    await world.env.sleep(timedelta(days=2))
    await answer(handle, CustomerResponse(True))
    result = await handle.result()
    # The win started the sale's project, whose reminders would fall due in a later scenario,
    # once this scenario's worker is gone, and stop the time-skipping server's clock: its
    # manager cancels it.
    project = world.env.client.get_workflow_handle(f"project-{result.sale_id}")
    manager = world.team.manager
    with contextlib.suppress(RPCError):  # forgotten once the project has ended
        await project.execute_update(SaleToProject.cancel, Cancellation(
            "recorded elsewhere", manager.id, manager.role))
    await project.result()
    return handle


async def quote_validated_by_timeout_then_expired(world: World) -> WorkflowHandle:
    handle = await start_quote(world, "25", QuoteApprovalPolicy())
    await handle.result()
    return handle


async def quote_escalated_then_rejected(world: World) -> WorkflowHandle:
    handle = await start_quote(world, "30", QuoteApprovalPolicy(on_timeout="escalate"))
    await handle.result()
    return handle


async def quote_small_discount_lost(world: World) -> WorkflowHandle:
    handle = await start_quote(world, "5", QuoteApprovalPolicy())
    rep = world.team.rep
    await handle.execute_update(QuoteApproval.send_to_customer, QuoteSending(rep.id, rep.role))
    await answer(handle,
                                CustomerResponse(False, rep.id, "too expensive"))
    await handle.result()
    return handle


SCENARIOS: dict[str, Scenario] = {
    "approved-won": quote_approved_won,
    "validated-by-timeout-then-expired": quote_validated_by_timeout_then_expired,
    "escalated-then-rejected": quote_escalated_then_rejected,
    "small-discount-lost": quote_small_discount_lost,
}
