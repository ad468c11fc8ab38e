"""A decision is answered once it is recorded, whatever its side effects are doing; a refusal
says who may act before what the status allows; an event is recorded and told to its
process together, or not at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.idempotency import Once, fingerprint
from crm import db
from crm.models import LeadEvent, OutboxEmail
from crmflow.mail_sink import MailSink
from tests import factories
from tests.api.conftest import Api, running_api
from tests.conftest import free_port
from tests.faults import TcpProxy
from workflows.quote_approval import ManagerDecision, QuoteApproval

JANE = {"name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme"}


@pytest.fixture
async def api_without_smtp(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path,
) -> AsyncIterator[Api]:
    """The API and its worker with the mail server down (nothing listens on its port)."""
    async with running_api(dev_server, database_url, (MailSink(), free_port()), tmp_path,
                           smtp_timeout_seconds=2) as api:
        yield api


async def test_decisions_are_answered_while_the_mail_server_is_down(
    api_without_smtp: Api,
) -> None:
    api = api_without_smtp
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")

    async def call(method: str, url: str, who: str, **kwargs: object) -> dict[str, object]:
        response = await asyncio.wait_for(api.call(method, url, who, **kwargs), 20)
        assert response.status_code == 200, response.text
        return dict(response.json())

    submitted = await call("POST", f"/quotes/{quote.id}/submit", "rep")
    assert submitted["status"] == "pending_approval"
    approved = await call("POST", f"/quotes/{quote.id}/decision", "manager",
                          json={"approve": True, "comment": "ok"})
    assert (approved["status"], approved["decided_by_id"]) == ("validated", api.team.manager.id)
    sent = await call("POST", f"/quotes/{quote.id}/send", "rep")
    assert sent["status"] == "sent"

    async with db.unit_of_work(api.sessions) as session:
        delivered = await session.scalar(
            select(func.count(OutboxEmail.id)).where(OutboxEmail.status == "sent"))
    assert delivered == 0  # every email still waits for the mail server
    await api.temporal.get_workflow_handle(f"quote-{quote.id}").terminate("test over")


async def test_who_may_act_is_checked_before_what_the_status_allows(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="5")
    assert (await api.call("POST", f"/quotes/{quote.id}/submit", "rep")).json()["status"] == (
        "validated")

    own = await api.call("POST", f"/quotes/{quote.id}/decision", "rep",
                         json={"approve": True})
    assert own.status_code == 403
    assert own.json()["detail"] == ("role sales_rep may not POST /quotes/{quote_id}/decision; "
                                    "it needs one of: sales_manager, admin")
    foreign = await api.call("POST", f"/quotes/{quote.id}/decision", "foreign_manager",
                             json={"approve": True})
    assert foreign.status_code == 403
    late = await api.call("POST", f"/quotes/{quote.id}/decision", "manager",
                          json={"approve": True})
    assert late.status_code == 409
    assert late.json()["detail"] == (
        f"quote {quote.id} is validated (discount 5 % within the 20 % threshold), so it "
        f"cannot be approved or rejected: only a quote pending approval can")

    assert (await api.call("POST", f"/quotes/{quote.id}/send", "rep")).status_code == 200
    again = await api.call("POST", f"/quotes/{quote.id}/send", "rep")
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"quote {quote.id} is sent (sent to jane@acme.example), so it cannot be sent: only a "
        f"validated quote can be sent")


async def test_an_event_that_cannot_reach_its_process_is_not_kept_so_a_retry_counts_once(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path, temporal_proxy: TcpProxy,
) -> None:
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           api_temporal_address=temporal_proxy.address,
                           temporal_rpc_timeout_seconds=1.5) as api:
        lead = (await api.call("POST", "/leads", "website", json=JANE)).json()
        event = {"type": "content_downloaded", "content": "white_paper"}
        await temporal_proxy.cut()

        down = await api.call("POST", f"/leads/{lead['id']}/events", "website", json=event)
        assert down.status_code == 503
        assert down.headers["Retry-After"]

        temporal_proxy.restore()
        retried = await api.call("POST", f"/leads/{lead['id']}/events", "website", json=event)
        assert retried.status_code == 202, retried.text
        assert retried.json()["process"] == "signalled"
        async with db.unit_of_work(api.sessions) as session:
            assert await session.scalar(select(func.count(LeadEvent.id))) == 1


async def test_a_decision_retried_under_its_key_after_a_lost_answer_is_not_refused(
    api: Api,
) -> None:
    """The worker died while the process was deciding: the manager's first request got 503
    and kept no answer, but the process did decide. The retry, under the same key, names the
    same update and gets that decision's outcome — not a 409 saying it was decided."""
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    assert (await api.call("POST", f"/quotes/{quote.id}/submit", "rep")).status_code == 200
    url, body = f"/quotes/{quote.id}/decision", {"approve": True, "comment": "fine"}
    manager, key = api.team.manager, "approve-quote-1"
    first = Once(key, manager, fingerprint("POST", url, json.dumps(body).encode()))
    handle = api.temporal.get_workflow_handle(f"quote-{quote.id}")
    await handle.execute_update(QuoteApproval.decide, ManagerDecision(
        True, manager.id, manager.role, manager.team_id, "fine"), id=first.update_id)

    retried = await api.call("POST", url, "manager", json=body,
                             headers={"Idempotency-Key": key})
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["decided_by_id"]) == (
        "validated", manager.id)
    again = await api.call("POST", url, "manager", json=body)  # no key: a new decision
    assert again.status_code == 409
    await handle.terminate("test over")
