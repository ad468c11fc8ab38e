"""The web console over HTTP: sign-in, CSRF, pages, and decisions held to the API's rules.
(The browser tests, in tests/e2e/test_console_browser.py, click through the same pages.)"""

from __future__ import annotations

import re

import httpx
import pytest

from api.console import diagram
from tests import factories
from tests.api.conftest import Api
from workflows.registry import PROCESSES


async def signed_in(api: Api, who: str) -> httpx.AsyncClient:
    """A browser-like client of the same app, signed in as ``who``."""
    client = httpx.AsyncClient(transport=api.http._transport, base_url="http://crm")
    page = await client.get("/console/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, page.text
    answer = await client.post("/console/sign-in", data={"csrf": csrf[1],
                                                         "token": api.tokens[who]})
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = answer.headers["set-cookie"]
    assert all(part in cookie for part in ("HttpOnly", "SameSite=strict", "Max-Age=28800"))
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found
    return found[1]


async def test_a_manager_approves_from_the_inbox_and_the_quote_is_validated(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    assert (await api.call("POST", f"/quotes/{quote.id}/submit", "rep")).status_code == 200
    manager = await signed_in(api, "manager")

    inbox = await manager.get("/console/approvals")
    assert inbox.status_code == 200
    assert f"Quote {quote.id}</a> for Acme" in inbox.text
    assert "reminders sent" in inbox.text or "reminder sent" in inbox.text
    assert "the timeout rule applies" in inbox.text
    decided = await manager.post(f"/console/quotes/{quote.id}/decision", data={
        "csrf": csrf_of(inbox.text), "decision": "approve", "comment": "fine"})
    assert decided.status_code == 303

    case = await manager.get(decided.headers["location"])
    assert re.search(r'class="step current" data-status="validated" aria-current="step"',
                     case.text)
    assert (await api.call("GET", f"/quotes/{quote.id}", "rep")).json()["status"] == "validated"
    await manager.aclose()


async def test_a_self_approval_is_refused_on_the_page_in_the_apis_words(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")
    rep = await signed_in(api, "rep")
    page = await rep.get(f"/console/quotes/{quote.id}")

    refused = await rep.post(f"/console/quotes/{quote.id}/decision", data={
        "csrf": csrf_of(page.text), "decision": "approve"})

    assert refused.status_code == 403
    assert "the author of a quote cannot approve or reject it" in refused.text
    assert (await api.call("GET", f"/quotes/{quote.id}", "rep")).json()["status"] == (
        "pending_approval")
    await rep.aclose()


async def test_a_post_without_the_forms_csrf_token_is_refused(api: Api) -> None:
    manager = await signed_in(api, "manager")
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")

    for data in ({"decision": "approve"}, {"decision": "approve", "csrf": "forged"}):
        refused = await manager.post(f"/console/quotes/{quote.id}/decision", data=data)
        assert refused.status_code == 403
    assert (await api.call("GET", f"/quotes/{quote.id}", "rep")).json()["status"] == (
        "pending_approval")
    outsider = httpx.AsyncClient(transport=api.http._transport, base_url="http://crm")
    assert (await outsider.post("/console/sign-in", data={"token": api.tokens["manager"]})
            ).status_code == 403  # no sign-in form was shown: no CSRF cookie
    await manager.aclose()
    await outsider.aclose()


async def test_signing_out_ends_the_session(api: Api) -> None:
    rep = await signed_in(api, "rep")
    work = await rep.get("/console")
    assert work.status_code == 200 and "My work" in work.text
    stolen = rep.cookies["crm_console"]
    out = await rep.post("/console/sign-out", data={"csrf": csrf_of(work.text)})
    assert out.status_code == 303
    assert 'crm_console=""' in out.headers["set-cookie"]  # forgotten
    assert (await rep.get("/console")).status_code == 303  # back to the sign-in page
    # The session's token is revoked: the old cookie, replayed, opens nothing.
    rep.cookies.set("crm_console", stolen, path="/console")
    replayed = await rep.get("/console")
    assert (replayed.status_code, replayed.headers["location"]) == (303, "/console/sign-in")
    await rep.aclose()


async def test_a_wrong_token_cannot_sign_in(api: Api) -> None:
    client = httpx.AsyncClient(transport=api.http._transport, base_url="http://crm")
    page = await client.get("/console/sign-in")
    answer = await client.post("/console/sign-in", data={"csrf": csrf_of(page.text),
                                                         "token": "crm_guess"})
    assert answer.status_code == 401
    assert "unknown, revoked or expired" in answer.text
    await client.aclose()


@pytest.mark.parametrize("spec", PROCESSES, ids=lambda s: s.name)
def test_the_diagram_marks_exactly_the_current_step(spec: object) -> None:
    table = diagram.transitions_of(spec)  # type: ignore[arg-type]
    for status in diagram.statuses(table):
        drawn = diagram.svg(spec, status)  # type: ignore[arg-type]
        marked = re.findall(r'data-status="([^"]+)" aria-current="step"', drawn)
        assert marked == [status]
        assert all(f'data-status="{s}"' in drawn for s in diagram.statuses(table))


def test_production_refuses_the_development_console_secret(api: Api) -> None:
    from pydantic import SecretStr

    from api.app import create_app

    production = api.settings.model_copy(update={"environment": "production"})
    with pytest.raises(ValueError, match="CRMFLOW_CONSOLE_SECRET"):
        create_app(production)
    create_app(production.model_copy(update={"console_secret": SecretStr("our own")}))
