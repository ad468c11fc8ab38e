"""Health, docs, tokens, roles and the problem+json shape of every error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from api.metrics import serve_metrics
from tests.api.conftest import Api
from tests.conftest import free_port
from tests.waiting import eventually


async def test_health_needs_no_token_and_reports_database_and_temporal(api: Api) -> None:
    response = await api.http.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "temporal": "ok"}


async def test_docs_and_openapi_need_no_token(api: Api) -> None:
    assert (await api.http.get("/docs")).status_code == 200
    spec = (await api.http.get("/openapi.json")).json()
    assert "/leads" in spec["paths"] and "/quotes/{quote_id}/decision" in spec["paths"]


async def test_missing_or_unknown_token_is_401_problem(api: Api) -> None:
    missing = await api.http.get("/leads")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.json()["detail"] == "send 'Authorization: Bearer <token>'"

    unknown = await api.http.get("/leads", headers={"Authorization": "Bearer crm_nope"})
    assert unknown.status_code == 401
    assert unknown.json()["title"] == "Unauthorized"


async def test_me_tells_who_the_token_belongs_to(api: Api) -> None:
    body = (await api.call("GET", "/me", "manager")).json()
    assert body == {"id": api.team.manager.id, "name": "Maria", "email": "maria@crm.example",
                    "role": "sales_manager", "team": "Sales"}


async def test_a_role_without_the_right_gets_403_naming_the_roles(api: Api) -> None:
    response = await api.call("GET", "/emails", "rep")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "role sales_rep may not GET /emails; it needs one of: admin")
    assert (await api.call("GET", "/leads", "accountant")).status_code == 403


async def test_unknown_ids_are_404(api: Api) -> None:
    response = await api.call("GET", "/leads/999", "rep")
    assert response.status_code == 404
    assert response.json()["detail"] == "lead 999 does not exist"
    assert (await api.call("GET", "/quotes/999", "rep")).status_code == 404
    assert (await api.call("POST", "/tasks/999/complete", "rep",
                           json={"outcome": "done"})).status_code == 404


async def test_validation_errors_name_the_field(api: Api) -> None:
    response = await api.call("POST", "/leads", "website",
                              json={"name": "Jane", "email": "not-an-email"})
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "Invalid request"
    assert [e["field"] for e in body["errors"]] == ["email"]
    assert body["detail"].startswith("email: value is not a valid email address")

    response = await api.call("POST", "/quotes", "rep",
                              json={"lead_id": 1, "lines": [{"description": "x",
                                                             "quantity": 1, "unit_price": -5}]})
    assert [e["field"] for e in response.json()["errors"]] == ["lines.0.unit_price"]


async def test_policies_show_defaults_then_the_file(api: Api, policy_file: Path) -> None:
    body = (await api.call("GET", "/policies", "rep")).json()
    assert body["quote_approval"] == {
        "discount_threshold_pct": "20", "approval_timeout": "P5D", "on_timeout": "validate",
        "reminder_every": "P1D", "quote_validity": "P30D",
    }
    policy_file.write_text('[quote_approval]\napproval_timeout = "PT2S"\non_timeout = "reject"\n')
    body = (await api.call("GET", "/policies", "rep")).json()
    assert body["quote_approval"]["approval_timeout"] == "PT2S"
    assert body["quote_approval"]["on_timeout"] == "reject"
    assert body["lead_nurturing"]["step_delay"] == "P3D"


async def test_the_outbox_is_for_admins(api: Api) -> None:
    await api.call("POST", "/leads", "website",
                   json={"name": "Jane", "email": "jane@acme.example"})
    emails = await eventually(lambda: _outbox(api))
    assert emails[0]["recipient"] == "jane@acme.example"
    assert emails[0]["purpose"] == "welcome"
    assert emails[0]["status"] == "sent"
    assert emails[0]["related_type"] == "lead"


async def _outbox(api: Api) -> list[dict[str, object]]:
    response = await api.call("GET", "/emails", "admin")
    assert response.status_code == 200
    return [e for e in response.json() if e["status"] == "sent"]


async def test_request_metrics_are_served_on_their_own_port(api: Api) -> None:
    port = free_port()
    server = serve_metrics(port)
    try:
        await api.http.get("/health")
        await api.call("GET", "/leads/12345", "rep")
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
    finally:
        server.shutdown()
    assert 'crmflow_api_requests_total{method="GET",route="/health",status="200"}' in text
    assert 'route="/leads/{lead_id}",status="404"' in text
    assert "crmflow_api_request_duration_seconds_bucket" in text


async def test_every_answer_carries_a_request_id(api: Api) -> None:
    response = await api.http.get("/health", headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    assert len((await api.http.get("/health")).headers["x-request-id"]) == 32


async def test_each_request_logs_one_line_with_its_request_id(api: Api, json_logs: Any) -> None:
    await api.http.get("/health", headers={"x-request-id": "req-42"})
    [line] = [e for e in json_logs() if e["event"] == "request"]
    assert (line["request_id"], line["path"], line["status"], line["level"]) == (
        "req-42", "/health", 200, "info"
    )
    assert "timestamp" in line and "ms" in line
