"""Record workflow histories from real scenarios, for the replay test.

    .venv/bin/python -m tests.histories.record [--label LABEL]

Each scenario runs the real workflow code with the real activities (a scratch SQLite CRM
database, a real SMTP server) on the time-skipping server, then writes the history to
``tests/histories/<WorkflowType>/<scenario>.<label>.json`` (label: today's date). Earlier
recordings stay: they stand for processes still running in production, which every later
version of the code must replay. Delete a recording only when no process of that shape can
still be running.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.migrate import upgrade_to_head
from crm.models import User
from crm.settings import Settings
from crmflow.mail_sink import start_mail_sink
from tests import factories
from tests.conftest import binary, free_port, register_search_attributes
from tests.workflows import starts
from worker.main import build_worker
from workflows.lead_to_sale import (
    ContentDownload,
    LeadNurturingPolicy,
    LeadToSale,
    MarketingResponse,
    Qualification,
    QuoteProgress,
)
from workflows.quote_approval import (
    CustomerResponse,
    ManagerDecision,
    QuoteApproval,
    QuoteApprovalPolicy,
    QuoteSending,
)

HERE = Path(__file__).resolve().parent
DAY = timedelta(days=1)


@dataclass
class World:
    env: WorkflowEnvironment
    sessions: db.Sessions
    task_queue: str
    team: factories.SalesTeam


Scenario = Callable[[World], Awaitable[WorkflowHandle[Any, Any]]]


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
    await handle.result()
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
    "won": lead_won,
    "dormant": lead_dormant,
    "demo-then-disqualified": lead_demo_then_disqualified,
    "approved-won": quote_approved_won,
    "validated-by-timeout-then-expired": quote_validated_by_timeout_then_expired,
    "escalated-then-rejected": quote_escalated_then_rejected,
    "small-discount-lost": quote_small_discount_lost,
}


async def record(label: str, only: list[str] | None = None) -> list[Path]:
    written = []
    scratch = Path(tempfile.mkdtemp(prefix="crmflow-histories-"))
    smtp_port = free_port()
    controller, _ = start_mail_sink("127.0.0.1", smtp_port)
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        for name, scenario in SCENARIOS.items():
            if only and name not in only:
                continue
            url = f"sqlite+aiosqlite:///{scratch / f'{name}.db'}"
            await upgrade_to_head(url)
            engine = db.create_engine(url)
            sessions = db.create_sessions(engine)
            settings = Settings(database_url=url, smtp_port=smtp_port, data_dir=scratch)
            queue = f"record-{name}"
            async with build_worker(env.client, settings, sessions, task_queue=queue):
                world = World(env, sessions, queue, await factories.sales_team(sessions))
                handle = await scenario(world)
                history = await handle.fetch_history()
            await engine.dispose()
            workflow_type = (await handle.describe()).workflow_type
            path = HERE / workflow_type / f"{name}.{label}.json"
            if path.exists():
                raise SystemExit(f"{path} exists: recordings are kept; pass another --label")
            path.parent.mkdir(exist_ok=True)
            path.write_text(history.to_json() + "\n")
            written.append(path)
            print(f"recorded {path.relative_to(HERE.parent.parent)}")
    finally:
        await env.shutdown()
        controller.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default=date.today().isoformat())
    parser.add_argument("scenario", nargs="*", choices=[[], *SCENARIOS], default=[])
    args = parser.parse_args()
    asyncio.run(record(args.label, args.scenario or None))


if __name__ == "__main__":
    main()
