"""The console in a real browser: Debian's Chromium driven by Playwright (its own browsers are
never downloaded). A manager approves a quote the rep is looking at, and the rep's page shows
it validated by itself; a rep's self-approval is refused on screen; a post without the form's
CSRF token is refused; an accountant records a payment and the invoice shows paid by itself
when the customer pays the rest; a support agent answers a ticket on a phone with the
keyboard alone and sees the customer's reply arrive; a manager reads the insights on a
phone. Every page is saved as a screenshot
(phone and desktop) in ``.artifacts/console/``; each new page is checked for a label on every
control and for fitting a 375 px screen.

The browser tests run on SQLite only: the HTTP tests (test_console.py) run the same pages on
both databases, and the browser adds what only a browser shows."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from tests import factories
from tests.api.conftest import Api
from tests.api.test_console import api_says
from tests.api.test_insights import LEADS_QUALIFIED
from tests.api.test_invoices import issue, pay
from tests.api.test_own_workflows import new_lead
from tests.api.test_tickets import _assigned, opened, support_tokens
from tests.conftest import free_port
from tests.insights.history import build
from tests.simulation.cases import LAST_QUARTER, Decision, past_quote
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["sqlite"],
                                                      indirect=True)]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CRMFLOW_TEST_ARTIFACTS", ".artifacts")) / "console"
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
UNLABELLED = """() => Array.from(document.querySelectorAll(
    'input:not([type=hidden]), select, textarea')).filter(
    (c) => !c.labels.length && !c.getAttribute('aria-label')).map((c) => c.name)"""
UNCHANGED = """async () => {  // what the page's script compares before it swaps <main>
    const answer = await fetch(location.href, {headers: {'X-Console-Part': 'main'}});
    const fresh = document.createElement('template');
    fresh.innerHTML = await answer.text();
    return fresh.innerHTML.trim() === document.getElementById('main').innerHTML.trim();
}"""


@pytest.fixture
async def console(api: Api) -> AsyncIterator[str]:
    """The API (console included) served over HTTP on a free port."""
    assert api.app is not None
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(api.app, host="127.0.0.1", port=port,
                                           lifespan="off", log_config=None))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: scripts/test installs it (apt)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield launched
        await launched.close()


async def sign_in(browser: Browser, base: str, token: str, **viewport: int) -> Page:
    context = await browser.new_context(viewport=viewport or None)  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(f"{base}/console")
    await expect(page.get_by_role("heading", name="Sign in to crmflow")).to_be_visible()
    await page.get_by_label("Your API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="My work")).to_be_visible()
    return page


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


async def check(page: Page, name: str) -> None:
    """A label on every control, the page left as it is while nothing changes, and on a
    phone nothing wider than the screen; a screenshot on each."""
    assert await page.evaluate(UNLABELLED) == []
    assert await page.evaluate(UNCHANGED), "the page would be redrawn though nothing changed"
    before = page.viewport_size or DESKTOP
    for size, suffix in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await page.set_viewport_size(size)  # type: ignore[arg-type]
        assert await page.evaluate("document.documentElement.scrollWidth") <= size["width"]
        await shot(page, f"{name}-{suffix}")
    await page.set_viewport_size(before)  # type: ignore[arg-type]


async def test_a_manager_approves_and_the_reps_page_shows_it_validated(
    api: Api, console: str, browser: Browser,
) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    assert (await api.call("POST", f"/quotes/{quote.id}/submit", "rep")).status_code == 200

    rep = await sign_in(browser, console, api.tokens["rep"], **PHONE)
    await shot(rep, "my-work-phone")
    await rep.goto(f"{console}/console/quotes/{quote.id}")
    await expect(rep.locator('[aria-current="step"]')).to_have_attribute(
        "data-status", "pending_approval")
    await shot(rep, "quote-pending-phone")

    manager = await sign_in(browser, console, api.tokens["manager"])
    await shot(manager, "my-work-manager")
    await manager.get_by_role("link", name="Approvals").click()
    inbox = manager.locator(f"#quote-{quote.id}")
    await expect(inbox).to_contain_text("By Alice")
    await expect(inbox).to_contain_text("the timeout rule applies")
    await shot(manager, "approval-inbox")
    await inbox.get_by_label("Comment (required to reject)").fill("strategic account")
    await inbox.get_by_role("button", name="Approve").click()
    await expect(manager.locator('[aria-current="step"]')).to_have_attribute(
        "data-status", "validated")
    await shot(manager, "quote-validated")

    # The rep's page, untouched since, updates by itself.
    await expect(rep.locator('[aria-current="step"]')).to_have_attribute(
        "data-status", "validated", timeout=15_000)
    await expect(rep.get_by_text("Status: validated")).to_be_visible()
    await manager.goto(f"{console}/console/approvals")
    await expect(manager.get_by_text("Nothing waits for your decision.")).to_be_visible()

    await manager.goto(f"{console}/console/leads")
    await shot(manager, "leads")
    await manager.goto(f"{console}/console/leads/{lead.id}")
    await shot(manager, "lead-case")


async def test_a_self_approval_is_refused_on_screen_and_csrf_is_required(
    api: Api, console: str, browser: Browser,
) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")
    rep = await sign_in(browser, console, api.tokens["rep"])

    await rep.goto(f"{console}/console/quotes/{quote.id}")
    await rep.get_by_role("button", name="Approve").click()
    await expect(rep.get_by_role("alert")).to_have_text(f"Quote {quote.id}: " + await api_says(
        api, "rep", "POST", f"/quotes/{quote.id}/decision", approve=True))
    await shot(rep, "self-approval-refused")

    forged = await rep.request.post(f"{console}/console/quotes/{quote.id}/decision",
                                    form={"decision": "approve"})
    assert forged.status == 403
    assert (await api.call("GET", f"/quotes/{quote.id}", "rep")).json()["status"] == (
        "pending_approval")


async def test_an_accountant_records_a_payment_and_the_invoice_shows_paid_by_itself(
    api: Api, console: str, browser: Browser,
) -> None:
    invoice = await issue(api)
    contested = await issue(api)
    await api.call("POST", f"/invoices/{contested['id']}/dispute", "website",
                   json={"reason": "we never ordered this"})
    carl = await sign_in(browser, console, api.tokens["accountant"], **DESKTOP)
    needing = carl.get_by_role("region", name="Invoices needing my action")
    await expect(needing).to_contain_text(f"Invoice {contested['number']}")
    await expect(carl.get_by_role("link", name="Invoices 1 need your action")).to_be_visible()
    await check(carl, "my-work-accountant")

    await carl.get_by_role("link", name="Invoices").click()
    await expect(carl.get_by_role("heading", name="Invoices")).to_be_visible()
    await check(carl, "invoices")
    await carl.get_by_role("link", name=f"Invoice {invoice['number']}").click()
    await expect(carl.locator('[aria-current="step"]')).to_have_attribute("data-status", "open")
    await check(carl, "invoice")

    await carl.get_by_label("Amount (EUR)").fill("200.00")
    await carl.get_by_label("Payment reference").fill("BANK-1")
    await carl.get_by_role("button", name="Record the payment").click()
    await expect(carl.get_by_role("status")).to_have_text("Payment recorded.")
    await expect(carl.get_by_text("open balance 400.00 EUR")).to_be_visible()
    await expect(carl.get_by_role("cell", name="BANK-1")).to_be_visible()
    await shot(carl, "invoice-payment-recorded")

    # The payment provider pays the rest: the page, untouched, shows the invoice paid.
    assert (await pay(api, invoice["id"], "400.00", "PSP-7")).status_code == 201
    await expect(carl.locator('[aria-current="step"]')).to_have_attribute(
        "data-status", "paid", timeout=15_000)
    await expect(carl.get_by_role("heading", name="What you can do")).to_have_count(0)
    await shot(carl, "invoice-paid")

    await carl.goto(f"{console}/console/invoices/{contested['id']}")
    await check(carl, "invoice-disputed")


async def test_a_support_agent_answers_a_ticket_on_a_phone_with_the_keyboard(
    api: Api, console: str, browser: Browser,
) -> None:
    await support_tokens(api)
    ticket = await opened(api)
    await eventually(lambda: _assigned(api, ticket["id"]))
    sam = await sign_in(browser, console, api.tokens["sam"], **PHONE)
    card = sam.locator(f"#ticket-{ticket['id']}")
    await expect(card).to_contain_text("Cannot log in")
    first_response = card.get_by_role("listitem").filter(has_text="First response")
    await expect(first_response).to_contain_text("running")
    await expect(first_response).to_contain_text("of working time left · target 2 h")
    await check(sam, "my-work-agent")

    await sam.get_by_role("link", name="Tickets 1 assigned to you").click()
    await expect(sam.get_by_label("Queue")).to_have_value("mine")
    await check(sam, "tickets")
    await sam.get_by_role("link", name=f"Ticket {ticket['id']}: Cannot log in").click()
    await expect(sam.locator('[aria-current="step"]')).to_have_attribute("data-status", "open")
    await check(sam, "ticket")

    await sam.get_by_label("Your answer").focus()
    await sam.keyboard.type("We reset your password: try again.")
    await sam.keyboard.press("Tab")
    await expect(sam.get_by_role("button", name="Send the answer")).to_be_focused()
    await sam.keyboard.press("Enter")
    await expect(sam.get_by_role("status")).to_have_text("Answer sent to the customer.")
    clocks = sam.get_by_role("list", name="SLA clocks")
    await expect(clocks.get_by_role("listitem").filter(has_text="First response")
                 ).to_contain_text("met")
    await expect(sam.get_by_text("We reset your password: try again.")).to_be_visible()

    # The customer answers by email: the agent's page shows it by itself.
    assert (await api.call("POST", f"/tickets/{ticket['id']}/messages", "website",
                           json={"from": "customer", "body": "It works, thanks!"})
            ).status_code == 200
    await expect(sam.get_by_text("It works, thanks!")).to_be_visible(timeout=15_000)
    await shot(sam, "ticket-answered-phone")


async def test_a_manager_builds_a_workflow_in_the_console_and_follows_an_enrolment(
    api: Api, console: str, browser: Browser,
) -> None:
    manager = await sign_in(browser, console, api.tokens["manager"])
    await manager.get_by_role("link", name="Workflows").click()
    await expect(manager.get_by_role("heading", name="Workflows")).to_be_visible()
    editor = manager.get_by_label("The definition, in YAML")
    await editor.fill(NURTURE.replace("template: paper}", "template: brochure}"))
    await manager.get_by_role("button", name="Create the draft").click()
    await expect(manager.locator("li.problem")).to_have_text(
        "Step thanks: template: no template 'brochure' in this definition (it has hello, "
        "paper)")
    await expect(manager.locator("g.fault")).to_have_attribute("data-status", "thanks")
    assert await manager.evaluate(UNLABELLED) == []  # (a POST's answer: not redrawn)
    await shot(manager, "workflow-refused-desktop")

    await manager.get_by_label("The definition, in YAML").fill(NURTURE)
    await manager.get_by_role("button", name="Create the draft").click()
    await expect(manager.get_by_role("status")).to_have_text("Workflow created as a draft.")
    await manager.get_by_role("button", name="Publish the draft").click()
    await expect(manager.get_by_text("version 1 is active")).to_be_visible()
    await check(manager, "workflow")

    lead = await new_lead(api, "zoe@acme.example")
    await manager.get_by_label("The leads to enrol").fill(str(lead["id"]))
    await manager.get_by_role("button", name="Enrol").click()
    await expect(manager.get_by_role("status")).to_have_text("Enrolled.")
    await eventually(lambda: [m for m in api.mail.to("zoe@acme.example")
                              if m.subject == "Bonjour Zoé"])
    await manager.get_by_role("link", name=re.compile(r"^Enrolment \d+$")).click()
    step = manager.locator('[aria-current="step"]')
    await expect(step).to_have_attribute("data-status", "downloaded")
    await check(manager, "enrolment")

    # The lead downloads the paper: the enrolment's page moves on by itself.
    assert (await api.call("POST", f"/leads/{lead['id']}/events", "website", json={
        "type": "content_downloaded", "content": "white_paper"})).status_code == 202
    await expect(step).to_have_attribute("data-status", "pause", timeout=15_000)
    await eventually(lambda: [m for m in api.mail.to("zoe@acme.example")
                              if m.subject == "Our white paper"])
    await expect(manager.get_by_text("Our white paper → zoe@acme.example")).to_be_visible(
        timeout=15_000)
    await shot(manager, "enrolment-moved-desktop")


NURTURE = """\
name: Nurture a lead
object: lead
trigger: {when: manual}
templates:
  hello: {subject: "Bonjour {lead.name}", body: "Our white paper is yours to download."}
  paper: {subject: "Our white paper", body: "Thank you for reading it."}
steps:
  - {id: hello, send_email: {template: hello}}
  - {id: downloaded, wait_for: {event: content_downloaded, timeout: 7d}}
  - {id: thanks, send_email: {template: paper}}
  - {id: pause, wait: {for: 2d}}
  - {id: call, task: {title: "Call {lead.name}", assign: owner, due: 1d}}
  - {id: done, end: {outcome: handed to sales}}
"""


async def test_a_manager_simulates_a_shorter_timeout_and_reads_what_would_have_happened(
    api: Api, console: str, browser: Browser,
) -> None:
    team = api.team
    await past_quote(api.sessions, team, "25", LAST_QUARTER)
    late = await past_quote(api.sessions, team, "30", LAST_QUARTER + timedelta(days=1),
                            Decision(timedelta(days=3), "rejected", team.manager, "too much"))
    manager = await sign_in(browser, console, api.tokens["manager"])
    await manager.get_by_role("link", name="Simulations").click()
    await expect(manager.get_by_role("heading", name="Simulations")).to_be_visible()
    await expect(manager.get_by_label("approval timeout")).to_have_value("P5D")
    await check(manager, "simulations")
    await manager.get_by_label("approval timeout").fill("P2D")
    await manager.locator("#policy-cases-from").fill("2026-09-01")
    await manager.get_by_role("button", name="Simulate", exact=True).click()

    await expect(manager.get_by_role("heading", name=re.compile(r"^Simulation \d+"))
                 ).to_be_visible()
    outcomes = manager.locator("#outcomes")
    await expect(outcomes).to_be_visible(timeout=60_000)  # the page follows it by itself
    await expect(manager.get_by_text(f"rejected → validated: 1 — quote {late} submission 1")
                 ).to_be_visible()
    await expect(outcomes.get_by_role("row", name=re.compile("^validated"))).to_have_text(
        re.compile(r"validated\s*1\s*2"))
    await expect(manager.locator("svg.chart rect")).to_have_count(4)
    await check(manager, "simulation")
    runs = manager.locator("details.case-runs").filter(
        has_text=f"quote {late} submission 1: rejected → validated")
    await runs.locator("summary").click()
    await expect(runs.locator("li.differs").first).to_be_visible()
    await expect(runs.get_by_text("rejected by Maria after 3.0 days")).to_be_visible()
    await shot(manager, "simulation-case-desktop")


async def test_a_manager_reads_the_insights_on_a_phone(
    api: Api, console: str, browser: Browser, policy_file: Path,
) -> None:
    await build(api.sessions, api.team)
    policy_file.write_text(LEADS_QUALIFIED)
    manager = await sign_in(browser, console, api.tokens["manager"], **PHONE)
    await manager.get_by_role("link", name="Insights").click()
    await manager.get_by_label("From", exact=True).fill("2026-10-01")
    await manager.get_by_label("To", exact=True).fill("2026-11-01")
    await manager.get_by_role("button", name="Show").click()
    funnel = manager.get_by_role("table", name="Funnel: Lead to sale")
    await expect(funnel).to_contain_text("qualified")
    await expect(manager.get_by_role("img", name=re.compile("cases reaching each stage"))
                 ).to_be_visible()
    await expect(manager.locator("#cycle-times")).to_contain_text(
        "Cases wait longest in qualified")
    await expect(manager.get_by_role("table", name="Objectives: Lead to sale")).to_contain_text(
        "Qualified within 3 days")
    await expect(manager.get_by_role("img", name=re.compile("short of its aim"))).to_be_visible()
    await check(manager, "insights")
