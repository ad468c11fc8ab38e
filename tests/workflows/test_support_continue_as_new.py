"""A ticket that waits long on a customer continues as new when the server suggests it,
carrying its state: reminders are numbered on across runs, none is sent twice, and the
status history keys stay unique. (The dev server here suggests it after 40 events.)"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import StatusChange
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.waiting import eventually
from tests.workflows.tickets import open_ticket
from worker.main import build_worker
from workflows.contracts import Person
from workflows.support_ticket import SupportTicket
from workflows.support_types import CustomerMessage, InfoRequest, SupportPolicy

SECOND = timedelta(seconds=1)


async def test_a_long_wait_continues_as_new_without_repeating_or_skipping(
    short_histories: WorkflowEnvironment, sqlite_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> None:
    env = short_histories
    sink, port = mail_sink
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    queue = f"test-{uuid.uuid4()}"
    team = await factories.support_team(sessions)
    sam = Person(team.agent.id, team.agent.name, team.agent.email)
    policy = SupportPolicy(waiting_reminder=SECOND, auto_close_after=8 * SECOND)
    settings = Settings(database_url=sqlite_url, smtp_port=port, data_dir=tmp_path)
    async with build_worker(env.client, settings, sessions, task_queue=queue):
        ticket_id, handle = await open_ticket(env.client, queue, sessions, policy,
                                              category="billing")
        await eventually(lambda: sink.to(sam.email))
        await handle.execute_update(SupportTicket.request_info, InfoRequest(
            "the invoice", sam, "support_agent"))
        await eventually(lambda: _runs(env, handle.id, at_least=2), timeout=30)
        view = await handle.execute_update(SupportTicket.customer_message,
                                           CustomerMessage("here", "integration"))
        assert (view.status, [c.state for c in view.clocks]) == ("open", ["met", "running"])
        await handle.execute_update(SupportTicket.request_info, InfoRequest(
            "the other invoice", sam, "support_agent"))
        result = await handle.result()

    assert result.status == "closed"
    assert await _runs(env, handle.id, at_least=3), "it went on continuing as new"
    purposes = Counter(m.purpose for m in sink.to("jane@acme.example"))
    assert max(purposes.values()) == 1, purposes
    first, second = ([p for p in purposes if p.startswith(f"wait_{n}:")] for n in (1, 2))
    assert first == [f"wait_1:reminder_{n}" for n in range(1, len(first) + 1)]
    assert second == [f"wait_2:reminder_{n}" for n in range(1, 8)]
    async with db.unit_of_work(sessions) as session:
        changes = list(await session.scalars(select(StatusChange).where(
            StatusChange.object_type == "ticket").order_by(StatusChange.id)))
    assert [c.to_status for c in changes] == [
        "open", "waiting_on_customer", "open", "waiting_on_customer", "closed"]
    assert [c.idempotency_key for c in changes] == [
        f"ticket-{ticket_id}:status:{n}:{c.to_status}" for n, c in enumerate(changes, 1)]
    await engine.dispose()


async def _runs(env: WorkflowEnvironment, workflow_id: str, *, at_least: int) -> bool:
    runs = [e async for e in env.client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    return len(runs) >= at_least
