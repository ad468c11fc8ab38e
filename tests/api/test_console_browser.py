"""The console in a real browser: Debian's Chromium driven by Playwright (its own browsers are
never downloaded). A manager approves a quote the rep is looking at, and the rep's page shows
it validated by itself; a rep's self-approval is refused on screen; a post without the form's
CSRF token is refused. Every page is saved as a screenshot (phone and desktop) in
``.artifacts/console/``."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect

from tests import factories
from tests.api.conftest import Api
from tests.conftest import free_port
from tests.waiting import eventually

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("CRMFLOW_TEST_ARTIFACTS", ".artifacts")) / "console"
PHONE = {"width": 375, "height": 740}


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
    await expect(rep.get_by_role("alert")).to_contain_text(
        "the author of a quote cannot approve or reject it")
    await shot(rep, "self-approval-refused")

    forged = await rep.request.post(f"{console}/console/quotes/{quote.id}/decision",
                                    form={"decision": "approve"})
    assert forged.status == 403
    assert (await api.call("GET", f"/quotes/{quote.id}", "rep")).json()["status"] == (
        "pending_approval")
