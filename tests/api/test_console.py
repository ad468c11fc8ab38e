"""The web console over HTTP: sign-in, CSRF, pages, and decisions held to the API's rules;
an accountant's invoices and a support team's tickets, worked from the console; lists with
their filters and pages; a label on every control. (The browser tests, in
tests/api/test_console_browser.py, click through the same pages.)"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from api.console import diagram, lists
from tests import factories
from tests.api.conftest import Api
from tests.api.test_invoices import issue
from tests.api.test_tickets import _assigned, opened, support_tokens, ticket_view
from tests.simulation.cases import LAST_QUARTER, past_quote
from tests.waiting import eventually
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


async def api_says(api: Api, who: str, method: str, path: str, **body: object) -> str:
    """The API's own refusal of the request, word for word (asked after the console's attempt
    was refused, so it changes nothing)."""
    answer = await api.call(method, path, who, json=body)
    assert answer.status_code >= 400, answer.text
    return str(answer.json()["detail"])


def current_step(html: str) -> str:
    """The status the page's diagram marks as the current step."""
    [status] = re.findall(r'data-status="([^"]+)" aria-current="step"', html)
    return status


def said(page: httpx.Response) -> str:
    """The page's text, as a person reads it (entities decoded, tags and spaces folded)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page.text)))


class _Controls(HTMLParser):
    """The controls a person fills in, and the labels naming them."""

    def __init__(self) -> None:
        super().__init__()
        self.in_label, self.labelled, self.controls = 0, set[str](), list[tuple[str, bool]]()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label":
            self.in_label += 1
            self.labelled.add(found.get("for") or "")
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append((found.get("id") or found.get("name") or tag,
                                  bool(self.in_label) or "aria-label" in found))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1


def assert_labelled(html: str) -> None:
    """Every control has a label: one naming its id, or one around it."""
    parsed = _Controls()
    parsed.feed(html)
    unlabelled = [name for name, inside in parsed.controls
                  if not inside and name not in parsed.labelled]
    assert parsed.controls and not unlabelled, unlabelled


def nav_count(html: str, section: str) -> str | None:
    found = re.search(rf'>{section} <span class="count">(\d+)<', html)
    return found[1] if found else None


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
    assert await api_says(api, "rep", "POST", f"/quotes/{quote.id}/decision",
                          approve=True) in said(refused)
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


async def test_an_accountant_works_invoices_from_the_console(api: Api) -> None:
    invoice = await issue(api)
    url = f"/console/invoices/{invoice['id']}"
    contested = await issue(api)
    assert (await api.call("POST", f"/invoices/{contested['id']}/dispute", "website",
                           json={"reason": "never ordered"})).status_code == 200
    carl = await signed_in(api, "accountant")

    work = await carl.get("/console")
    assert "Invoices needing my action" in work.text
    assert f'href="/console/invoices/{contested["id"]}"' in work.text
    assert f'href="{url}"' not in work.text  # open, not yet due: nothing to do
    assert nav_count(work.text, "Invoices") == "1"
    listed = await carl.get("/console/invoices?status=disputed")
    assert f'href="/console/invoices/{contested["id"]}"' in listed.text
    assert f'href="{url}"' not in listed.text
    assert_labelled(listed.text)

    case = await carl.get(url)
    assert (case.status_code, current_step(case.text)) == (200, "open")
    assert invoice["number"] in case.text
    assert "open balance 600.00 EUR" in said(case) and "Next: courtesy notice" in said(case)
    assert f"/workflows/invoice-{invoice['id']}" in case.text  # the Temporal UI
    assert_labelled(case.text)
    paid = await carl.post(f"{url}/payments", data={
        "csrf": csrf_of(case.text), "amount": "200.00", "reference": "BANK-1"})
    assert (paid.status_code, paid.headers["location"]) == (303, f"{url}?done=payment")
    case = await carl.get(paid.headers["location"])
    assert "Payment recorded." in said(case) and "BANK-1" in case.text
    assert "open balance 400.00 EUR" in said(case)

    too_much = await carl.post(f"{url}/payments", data={
        "csrf": csrf_of(case.text), "amount": "500", "reference": "BANK-2"})
    assert too_much.status_code == 409
    assert await api_says(api, "accountant", "POST", f"/invoices/{invoice['id']}/payments",
                          amount="500", reference="BANK-2") in said(too_much)
    assert 'value="BANK-2"' in too_much.text  # what was typed is still there
    forged = await carl.post(f"{url}/payments", data={"amount": "1", "reference": "X"})
    assert forged.status_code == 403

    contested_url = f"/console/invoices/{contested['id']}"
    case = await carl.get(contested_url)
    assert "Resolve the dispute" in case.text and "Record a payment" in case.text
    assert "The customer promises to pay" not in case.text  # not while disputed
    resolved = await carl.post(f"{contested_url}/dispute/resolve", data={
        "csrf": csrf_of(case.text), "upheld": "no", "note": "they signed the order"})
    assert resolved.status_code == 303
    assert current_step((await carl.get(contested_url)).text) == "open"

    written_off = await carl.post(f"{url}/write-off", data={
        "csrf": csrf_of(case.text), "reason": "goodwill"})
    assert written_off.status_code == 303
    case = await carl.get(url)
    assert current_step(case.text) == "written_off" and "What you can do" not in case.text
    assert "written off: goodwill" in said(case)  # the history: why, by whom

    rep = await signed_in(api, "rep")
    refused = await rep.get(url)
    assert refused.status_code == 403
    assert await api_says(api, "rep", "GET", f"/invoices/{invoice['id']}") in said(refused)
    await carl.aclose()
    await rep.aclose()


ROUND_THE_CLOCK = """
[support.calendar]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
opens = "00:00"
closes = "23:59"
time_zone = "UTC"
holiday_country = ""
"""
"""Working time is wall-clock time (but for a minute a day), whenever the test runs."""


async def test_support_answers_assigns_asks_and_resolves_from_the_console(
    api: Api, policy_file: Path,
) -> None:
    policy_file.write_text(ROUND_THE_CLOCK)
    team = await support_tokens(api)
    ticket_id = (await opened(api))["id"]
    await eventually(lambda: _assigned(api, ticket_id))
    url = f"/console/tickets/{ticket_id}"
    sam = await signed_in(api, "sam")

    work = await sam.get("/console")
    assert "Tickets assigned to me" in work.text and f'href="{url}"' in work.text
    assert re.search(r'<strong>First response</strong> <span class="badge">running</span>\s*'
                     r'<span class="meta">due [^<]+ UTC · 1 h 5\d min of working time left · '
                     r'target 2 h</span>', work.text)
    assert nav_count(work.text, "Tickets") == "1"
    mine = await sam.get("/console/tickets")  # an agent's default queue: mine
    assert '<option value="mine" selected>' in mine.text and f'href="{url}"' in mine.text

    lea = await signed_in(api, "lea")
    breaching = "/console/tickets?queue=breaching"  # a running target due within 4 hours
    assert f'href="{url}"' in (await lea.get(breaching)).text

    case = await sam.get(url)
    assert current_step(case.text) == "open" and "My password is refused." in case.text
    assert "Give the ticket to an agent" not in case.text  # a lead's
    assert_labelled(case.text)
    answered = await sam.post(f"{url}/answer", data={"csrf": csrf_of(case.text),
                                                     "body": "We reset it: try again."})
    assert (answered.status_code, answered.headers["location"]) == (303, f"{url}?done=answer")
    case = await sam.get(answered.headers["location"])
    assert "Answer sent to the customer." in said(case)
    assert "We reset it: try again." in case.text
    assert re.search(r'First response</strong> <span class="badge">met</span>', case.text)

    tia = await signed_in(api, "tia")
    theirs = await tia.get(url)
    assert "Send the answer" not in theirs.text
    refused = await tia.post(f"{url}/answer", data={"csrf": csrf_of(theirs.text),
                                                    "body": "me too"})
    assert refused.status_code == 403
    assert await api_says(api, "tia", "POST", f"/tickets/{ticket_id}/messages",
                          **{"from": "agent", "body": "me too"}) in said(refused)

    assert f'href="{url}"' not in (await lea.get(breaching)).text  # answered: 16 h to go
    case = await lea.get(url)
    assigned = await lea.post(f"{url}/assign", data={"csrf": csrf_of(case.text),
                                                     "agent_id": str(team.other_agent.id)})
    assert assigned.status_code == 303
    assert (await ticket_view(api, ticket_id))["assignee_id"] == team.other_agent.id

    case = await tia.get(url)
    asked = await tia.post(f"{url}/request-info", data={
        "csrf": csrf_of(case.text), "what": "a screenshot", "check": ""})
    assert asked.status_code == 303
    case = await tia.get(url)
    assert current_step(case.text) == "waiting_on_customer"
    assert re.search(r'Resolution</strong> <span class="badge">paused</span>', case.text)
    resolved = await tia.post(f"{url}/resolve", data={"csrf": csrf_of(case.text),
                                                      "resolution": "works again"})
    assert resolved.status_code == 303
    case = await tia.get(url)
    assert current_step(case.text) == "resolved" and "Reopen the ticket" in case.text
    for client in (sam, tia, lea):
        await client.aclose()


async def test_each_role_sees_its_sections_and_lists_page_with_their_filters(
    api: Api, monkeypatch: pytest.MonkeyPatch,
) -> None:
    await support_tokens(api)
    expected = {"rep": ["Leads", "Quotes", "Projects", "Workflows", "Insights"],
                "accountant": ["Projects", "Invoices", "Workflows", "Simulations", "Insights"],
                "sam": ["Tickets", "Workflows", "Insights"],
                "admin": ["Approvals", "Leads", "Quotes", "Projects", "Invoices", "Tickets",
                          "Workflows", "Simulations", "Insights"]}
    for who, sections in expected.items():
        client = await signed_in(api, who)
        nav = (await client.get("/console")).text.split("</nav>")[0]
        shown = re.findall(r'<a href="/console/[a-z]+" ?(?:aria-current="page")?>([A-Z][a-z]+)',
                           nav)
        assert shown == sections, who
        await client.aclose()

    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    for _ in range(3):
        await factories.qualified_lead(api.sessions, api.team.rep)
    await factories.lead(api.sessions, team_id=api.team.rep.team_id)  # nobody's yet
    rep = await signed_in(api, "rep")
    first = await rep.get("/console/leads?mine=1&status=qualified")
    assert first.text.count('href="/console/leads/') == 2
    assert 'href="/console/leads?status=qualified&amp;mine=1&amp;page=2" rel="next"' in (
        first.text)
    second = await rep.get("/console/leads?status=qualified&mine=1&page=2")
    assert second.text.count('href="/console/leads/') == 1 and 'rel="next"' not in second.text
    assert 'rel="prev"' in second.text
    everyone = await rep.get("/console/leads?page=2")
    assert everyone.text.count('href="/console/leads/') == 2
    assert_labelled(first.text)
    await rep.aclose()


async def test_a_simulation_is_asked_in_the_policy_s_own_keys_and_a_refusal_keeps_the_form(
    api: Api,
) -> None:
    await past_quote(api.sessions, api.team, "25", LAST_QUARTER)
    maria = await signed_in(api, "manager")
    page = await maria.get("/console/simulations")
    assert 'name="policy.approval_timeout" value="P5D"' in page.text
    form = {"csrf": csrf_of(page.text), "process": "quote_approval",
            "policy.approval_timeout": "soon", "from": "2026-09-01"}
    refused = await maria.post("/console/simulations", data=form)
    assert refused.status_code == 422
    assert "approval_timeout" in refused.text and 'value="soon"' in refused.text
    asked = await maria.post("/console/simulations",
                             data={**form, "policy.approval_timeout": "P2D"})
    assert asked.status_code == 303
    url = asked.headers["location"]

    async def done() -> str | None:
        shown = (await maria.get(url)).text
        return shown if 'id="outcomes"' in shown else None

    shown = await eventually(done, timeout=60)
    assert "outcome sooner</strong>: 1" in shown
    assert "approval_timeout = P2D" in shown
    await maria.aclose()
