"""Starting many processes at once, outside the API, for the measures whose subject is what
happens after the start (intake, memory, decisions, reminders).

crmflow's are started exactly as the API starts them (``crm.launcher.start_workflow``: the
same id, options, search attributes and input), from rows the bench wrote; bare ones with a
plain ``client.start_workflow`` on the bare task queue.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from temporalio.service import RPCError

from bench.bare import TASK_QUEUE as BARE_QUEUE
from bench.load import LoadResult, closed_loop
from bench.seed import People, QuoteRow
from bench.stack import CRMFLOW_QUEUE, Stack
from crm import launcher
from crm.settings import Settings
from workflows.contracts import Person
from workflows.lead_to_sale import LeadNurturingPolicy, LeadToSaleInput
from workflows.quote_approval import QuoteApprovalInput, QuoteApprovalPolicy, QuotedLine
from workflows.registry import LEAD_TO_SALE, QUOTE_APPROVAL, ProcessSpec

STARTERS = 32
LINE_TOTAL = Decimal("1000.00")  # seed.LINE: 10 x 100.00


def settings_for(stack: Stack) -> Settings:
    return Settings(database_url=stack.database_url, temporal_address=stack.temporal_address,
                    temporal_task_queue=CRMFLOW_QUEUE)


async def _start_all(stack: Stack, spec: ProcessSpec, inputs: Sequence[Any]) -> LoadResult:
    settings = settings_for(stack)

    async def start(i: int) -> None:
        await launcher.start_workflow(stack.client, settings, spec, inputs[i])

    return _checked(await closed_loop(start, concurrency=STARTERS, count=len(inputs),
                                      seconds=3600))


def _checked(result: LoadResult) -> LoadResult:
    if result.failures:
        raise RuntimeError(f"{result.failures} starts failed: {result.first_failure}")
    return result


def lead_input(lead_id: int, team_id: int) -> LeadToSaleInput:
    return LeadToSaleInput(lead_id, f"Lead {lead_id}", f"lead-{lead_id}@leads.example",
                           team_id, None, LeadNurturingPolicy(), company="Acme")


async def start_leads(stack: Stack, lead_ids: Sequence[int]) -> LoadResult:
    """Lead-to-sale processes for leads the bench inserted (status new)."""
    team = stack.people.team_id
    return await _start_all(stack, LEAD_TO_SALE, [lead_input(i, team) for i in lead_ids])


def quote_input(row: QuoteRow, people: People, discount_pct: Decimal,
                policy: QuoteApprovalPolicy) -> QuoteApprovalInput:
    rep = people.rep
    discount = LINE_TOTAL * discount_pct / 100
    return QuoteApprovalInput(
        quote_id=row.quote_id, lead_id=row.lead_id, submission=1,
        author=Person(rep.user_id, rep.name, rep.email), team_id=people.team_id,
        customer=f"Customer {row.account_id}", customer_id=row.account_id,
        contact_name=row.contact_name, contact_email=row.contact_email, currency="EUR",
        lines=[QuotedLine("CRM licence", Decimal("10"), Decimal("100.00"))],
        discount_pct=discount_pct, total=(LINE_TOTAL - discount).quantize(Decimal("0.01")),
        policy=policy,
    )


async def start_quotes(stack: Stack, rows: Sequence[QuoteRow], discount_pct: Decimal,
                       policy: QuoteApprovalPolicy) -> LoadResult:
    """Quote-approval processes for quotes the bench inserted (status submitted), as
    ``POST /quotes/{id}/submit`` starts them."""
    return await _start_all(stack, QUOTE_APPROVAL, [
        quote_input(row, stack.people, discount_pct, policy) for row in rows])


async def start_bare(stack: Stack, workflow: str, ids: Sequence[str], arg: Any) -> LoadResult:
    async def start(i: int) -> None:
        await stack.client.start_workflow(workflow, arg, id=ids[i], task_queue=BARE_QUEUE)

    return _checked(await closed_loop(start, concurrency=STARTERS, count=len(ids),
                                      seconds=3600))


async def terminate(stack: Stack, workflow_ids: Sequence[str]) -> None:
    """End these processes (those a measure left half-way: they must not load the next
    measure); ended ones are left alone."""

    async def end(i: int) -> None:
        with contextlib.suppress(RPCError):  # ended already
            await stack.client.get_workflow_handle(workflow_ids[i]).terminate(reason="bench")

    await closed_loop(end, concurrency=STARTERS, count=len(workflow_ids), seconds=3600)
