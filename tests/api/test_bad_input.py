"""Bad input gets a clear 4xx naming the field or rule, and changes nothing."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from crm import db
from crm.models import Invoice, Lead, Quote, Ticket, TicketMessage
from crm.repo import tickets
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


def _is_text(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" or any(_is_text(s) for s in schema.get("anyOf", []))


async def test_a_nul_in_any_text_parameter_of_the_query_is_422_naming_it(api: Api) -> None:
    """PostgreSQL cannot compare a text holding NUL: a list filtered by one was a 500."""
    assert api.app is not None
    checked = []
    for path, operations in api.app.openapi()["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            if parameter["in"] == "query" and _is_text(parameter["schema"]):
                url = re.sub(r"\{\w+\}", "1", path) + f"?{parameter['name']}=a%00b"
                answer = await api.call("GET", url, "admin")
                assert answer.status_code == 422, (url, answer.text)
                assert answer.json()["errors"][0]["field"] == parameter["name"], url
                checked.append(url)
    assert len(checked) > 10  # status, email, recipient, kind, category…


async def test_odd_header_values_are_4xx_not_500(api: Api) -> None:
    key = await api.call("POST", "/leads", "website", json=JANE,
                         headers={"Idempotency-Key": "retry\x00one"})
    assert key.status_code == 422
    assert key.json()["errors"][0]["field"] == "Idempotency-Key"
    # "²" is a digit to str.isdigit(), not to int(): the body gate took it for a length.
    length = await api.call("POST", "/leads", "website", json=JANE,
                            headers={"Content-Length": "\xb2".encode("latin-1")})
    assert length.status_code < 500


async def test_a_second_open_ticket_about_an_invoice_is_409_naming_it(api: Api) -> None:
    """One open ticket per invoice (its dispute): a second one was a 500 (IntegrityError)."""
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    async with db.unit_of_work(api.sessions) as session:
        invoice = Invoice(number="INV-TWICE", account_id=lead.account_id, amount=Decimal(100),
                          issued_on=date.today(), due_on=date.today(), lines=[])
        session.add(invoice)
        await session.flush()
        await tickets.create_ticket(session=session, requester_email="jane@acme.example",
                                    subject="Wrong amount", category="billing",
                                    status="open", invoice_id=invoice.id)
    second = await api.call("POST", "/tickets", "website", json={
        "contact_email": "jane@acme.example", "subject": "Wrong amount, again",
        "body": "Still wrong", "invoice_id": invoice.id})
    assert second.status_code == 409, second.text
    assert second.json()["detail"].startswith("invoice_id: ")
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == 1


async def test_lines_adding_up_to_more_than_any_amount_holds_are_422(api: Api) -> None:
    """Each line fits NUMERIC(12, 2), their total need not: an invoice of them was a 500 on
    PostgreSQL, and a quote of them could never be sold."""
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    dear = {"description": "Licence", "quantity": "1000", "unit_price": "9999999999.99"}
    quote = await api.call("POST", "/quotes", "rep", json={"lead_id": lead.id, "lines": [dear]})
    invoice = await api.call("POST", "/invoices", "accountant", json={
        "account_id": lead.account_id, "due_date": date.today().isoformat(),
        "lines": [{"description": "Licence", "amount": "9999999999.99"}] * 2})
    for answer in (quote, invoice):
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == "lines" and "largest amount" in error["message"]


async def test_an_email_with_nul_bytes_of_no_charset_or_an_unknown_charset_opens_a_ticket(
    api: Api,
) -> None:
    """Text no database stores (NUL; bytes the parser keeps as lone surrogates, as in a
    name) and a charset Python does not know were 500s: NUL is dropped, the bytes become
    U+FFFD, an unknown charset is read as UTF-8."""
    raw = (b"From: J\xffne <jane@acme.example>\r\nSubject: Cafe \x00menu\r\n"
           b"Message-ID: <a\x00b@acme.example>\r\n\r\nHello\x00 there\r\n")
    unknown = (b"From: jim@acme.example\r\nSubject: Prices\r\n"
               b"Content-Type: text/plain; charset=unknown-8bit\r\n\r\nCaf\xe9 prices\r\n")
    opened = []
    for email in (raw, unknown):
        answer = await api.call("POST", "/inbound/email", "website", content=email,
                                headers={"Content-Type": "message/rfc822"})
        assert answer.status_code == 201, answer.text
        opened.append(answer.json()["ticket_id"])
    async with db.unit_of_work(api.sessions) as session:
        seen = [(ticket.requester_name, ticket.subject, message.body)
                for ticket_id in opened
                if (ticket := await session.get(Ticket, ticket_id)) is not None
                for message in await session.scalars(
                    select(TicketMessage).where(TicketMessage.ticket_id == ticket_id))]
    assert seen == [("J\ufffdne", "Cafe menu", "Hello there"),
                    ("jim", "Prices", "Caf\ufffd prices")]
