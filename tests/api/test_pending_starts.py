"""A decision on an object whose process has not started yet (its create request met
Temporal away and got a 503, the object saved) starts the process, then is applied — for
every kind of object, through the one decision service (``api.decisions``)."""

from __future__ import annotations

from typing import Any

import httpx

from tests import factories
from tests.api.conftest import Api
from tests.api.test_invoices import invoice_body
from tests.api.test_process_starts import pending_starts
from tests.api.test_tickets import TICKET, support_tokens
from tests.faults import TcpProxy


async def while_temporal_is_away(api: Api, proxy: TcpProxy, method: str, url: str, who: str,
                                 **kwargs: Any) -> httpx.Response:
    """The request saves its object and records the start, which Temporal never gets."""
    await proxy.cut()
    saved = await api.call(method, url, who, **kwargs)
    assert saved.status_code == 503, saved.text
    assert await pending_starts(api) != []
    proxy.restore()
    return saved


async def decided(api: Api, process: str, url: str, who: str, **kwargs: Any
                  ) -> dict[str, Any]:
    answer = await api.call("POST", url, who, **kwargs)
    assert answer.status_code == 200, answer.text
    assert process not in await pending_starts(api)  # started, then decided
    return dict(answer.json())


async def test_a_lead(api_via_proxy: Api, temporal_proxy: TcpProxy) -> None:
    api = api_via_proxy
    await while_temporal_is_away(api, temporal_proxy, "POST", "/leads", "website", json={
        "name": "Jane Buyer", "email": "jane@acme.example"})
    lead = await decided(api, "lead-1", "/leads/1/qualify", "rep",
                         json={"qualified": False, "reason": "a student project"})
    assert lead["status"] == "disqualified"


async def test_a_quote(api_via_proxy: Api, temporal_proxy: TcpProxy) -> None:
    api = api_via_proxy
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    await while_temporal_is_away(api, temporal_proxy, "POST", f"/quotes/{quote.id}/submit",
                                 "rep")
    approved = await decided(api, f"quote-{quote.id}", f"/quotes/{quote.id}/decision", "manager",
                             json={"approve": True, "comment": "fine"})
    assert (approved["status"], approved["decided_by_id"]) == ("validated", api.team.manager.id)


async def test_an_invoice(api_via_proxy: Api, temporal_proxy: TcpProxy) -> None:
    api = api_via_proxy
    account_id = await factories.customer(api.sessions)
    await while_temporal_is_away(api, temporal_proxy, "POST", "/invoices", "accountant",
                                 json=invoice_body(account_id))
    disputed = await decided(api, "invoice-1", "/invoices/1/dispute", "website",
                             json={"reason": "we never received the licences"})
    assert disputed["status"] == "disputed"


async def test_a_project(api_via_proxy: Api, temporal_proxy: TcpProxy) -> None:
    api = api_via_proxy
    sale_id = await factories.sale(api.sessions, api.team)
    await while_temporal_is_away(api, temporal_proxy, "POST", f"/sales/{sale_id}/project", "rep")
    cancelled = await decided(api, f"project-{sale_id}", "/projects/1/cancel", "manager",
                              json={"reason": "the customer changed their mind"})
    assert cancelled["status"] == "cancelled"


async def test_a_ticket(api_via_proxy: Api, temporal_proxy: TcpProxy) -> None:
    api = api_via_proxy
    await support_tokens(api)
    await while_temporal_is_away(api, temporal_proxy, "POST", "/tickets", "website",
                                 json=TICKET)
    resolved = await decided(api, "ticket-1", "/tickets/1/resolve", "sam",
                             json={"resolution": "password reset sent"})
    assert resolved["status"] == "resolved"
