"""Bad input gets a clear 4xx naming the field or rule, and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from crm import db
from crm.models import Lead, Quote
from tests import factories
from tests.api.conftest import Api

JANE = {"name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme"}


async def leads_count(api: Api) -> int:
    async with db.unit_of_work(api.sessions) as session:
        return int(await session.scalar(select(func.count(Lead.id))) or 0)


@pytest.mark.parametrize("breaker", ["\r", "\n", "\v", "\f", "\x00", "\u2028", "\u0085"])
async def test_characters_that_break_mail_headers_are_refused_naming_the_field(
    api: Api, breaker: str,
) -> None:
    for field in ("name", "company"):
        response = await api.call("POST", "/leads", "website",
                                  json={**JANE, field: f"Acme{breaker}Bcc: all@x.example"})
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["field"] == field
        assert "one line of text" in error["message"]
    assert await leads_count(api) == 0


async def test_blank_names_unknown_fields_and_unknown_currencies_are_refused(api: Api) -> None:
    blank = await api.call("POST", "/leads", "website", json={**JANE, "name": "   "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "name"
    typo = await api.call("POST", "/leads", "website", json={**JANE, "compnay": "Acme"})
    assert typo.status_code == 422
    assert typo.json()["errors"][0] == {"field": "compnay",
                                        "message": "Extra inputs are not permitted"}
    assert await leads_count(api) == 0

    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    line = {"description": "Licence", "quantity": 1, "unit_price": "10"}
    money = await api.call("POST", "/quotes", "rep",
                           json={"lead_id": lead.id, "lines": [line], "currency": "XYZ"})
    assert money.status_code == 422
    assert "ISO 4217" in money.json()["errors"][0]["message"]
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Quote.id))) == 0


async def test_ids_too_large_for_any_table_are_4xx_not_500(api: Api) -> None:
    huge = 2**63
    for method, url, body in (
        ("GET", f"/leads/{huge}", None),
        ("GET", f"/quotes?lead_id={huge}", None),
        ("GET", f"/leads?offset={huge}", None),
        ("POST", "/quotes", {"lead_id": huge, "lines": []}),
        ("POST", "/leads", {**JANE, "team_id": huge}),
    ):
        response = await api.call(method, url, "admin", json=body)
        assert response.status_code == 422, (url, response.text)


async def test_a_body_over_a_mebibyte_is_413_and_a_non_json_body_is_415(api: Api) -> None:
    big = await api.call("POST", "/leads", "website",
                         content=b'{"name": "' + b"x" * (1024 * 1024) + b'"}',
                         headers={"content-type": "application/json"})
    assert big.status_code == 413
    assert big.headers["content-type"] == "application/problem+json"
    form = await api.call("POST", "/leads", "website", content=b"name=Jane",
                          headers={"content-type": "application/x-www-form-urlencoded"})
    assert form.status_code == 415
    assert "JSON" in form.json()["detail"]
    assert await leads_count(api) == 0
