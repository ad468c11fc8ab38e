"""Process views: Temporal visibility queries with crmflow's search attributes, and the state."""

from __future__ import annotations

from typing import Any

from api.routers.processes import PROCESS_NAMES, visibility_query
from tests import factories
from tests.api.conftest import Api
from tests.waiting import eventually


async def listed(api: Api, query: str) -> list[dict[str, Any]]:
    response = await api.call("GET", f"/processes?{query}", "manager")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_processes_are_found_by_type_status_and_customer(api: Api) -> None:
    await api.call("POST", "/leads", "website", json={"name": "Jane", "email": "j@a.example"})
    lead = await factories.qualified_lead(api.sessions, api.team.rep, email="k@b.example")
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="30")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")

    pending = await eventually(
        lambda: listed(api, "type=quote_approval&status=pending_approval")
    )
    assert [(p["workflow_id"], p["customer_id"], p["owner"], p["amount"]) for p in pending] == [
        (f"quote-{quote.id}", str(lead.account_id), str(api.team.rep.id), 700.0)
    ]
    assert await eventually(lambda: listed(api, "type=lead_to_sale&status=nurturing"))
    everything = await listed(api, "")
    assert {p["process"] for p in everything} == {"lead_to_sale", "quote_approval"}
    assert await listed(api, f"customer={lead.account_id}&type=lead_to_sale") == []
    assert await listed(api, "type=quote_approval&status=won") == []


async def test_a_process_shows_its_state_from_the_workflow_query(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="30")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")

    body = (await api.call("GET", f"/processes/quote-{quote.id}", "admin")).json()
    assert body["execution_status"] == "RUNNING"
    assert body["business_status"] == "pending_approval"
    assert body["summary"] == (
        f"Quote {quote.id} for Acme — 30 % discount, 700.00 EUR (submission 1)"
    )
    assert body["state"]["status"] == "pending_approval"
    assert body["state"]["waiting_for"] == "a manager's decision"
    assert body["state"]["approvers"] == [api.team.manager.id, api.team.other_manager.id]


async def test_unknown_process_is_404_and_bad_filters_are_422(api: Api) -> None:
    missing = await api.call("GET", "/processes/quote-999", "admin")
    assert missing.status_code == 404
    injected = await api.call("GET", '/processes?status=x" OR CrmStatus="y', "admin")
    assert injected.status_code == 422
    assert injected.json()["errors"][0]["field"] == "status"
    wrong_type = await api.call("GET", "/processes?type=payroll", "admin")
    assert wrong_type.status_code == 422
    assert (await api.call("GET", "/processes", "website")).status_code == 403


def test_the_visibility_query_is_the_one_an_engineer_types() -> None:
    assert visibility_query(["invoice_dunning"], "in_collections", None, None) == (
        'CrmProcess = "invoice_dunning" AND CrmStatus = "in_collections"'
    )
    every = ", ".join(f'"{name}"' for name in PROCESS_NAMES)
    assert "lead_to_sale" in PROCESS_NAMES and "invoice_dunning" in PROCESS_NAMES
    assert visibility_query(PROCESS_NAMES, None, "42", "7") == (
        f'CrmProcess IN ({every}) AND CrmCustomerId = "42" AND CrmOwner = "7"'
    )
