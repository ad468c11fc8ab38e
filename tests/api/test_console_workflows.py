"""Your own workflows from the console: a workflow written in the editor, refused with its
steps at fault marked on its diagram, created, published, an object enrolled; the enrolment's
page draws the version it runs with the step it is at, and its emails arrive."""

from __future__ import annotations

import re
from html import unescape

import httpx
import yaml
from sqlalchemy import func, select

from crm.models import Enrolment, WorkflowDefinition
from crm.own import reading
from tests import factories
from tests.api.conftest import Api
from tests.api.test_console import csrf_of as csrf
from tests.api.test_console import current_step, said, signed_in
from tests.api.test_own_workflows import new_lead
from tests.waiting import eventually
from tests.workflows.own import ENTERPRISE_FR

WORKFLOW = """\
name: Welcome a lead
object: lead
trigger: {when: manual}
templates:
  welcome: {subject: "Welcome, {lead.name}", body: "Hello {lead.name}, thank you."}
steps:
  - {id: welcome, send_email: {template: welcome}}
  - {id: pause, wait: {for: 2d}}
  - {id: call, task: {title: "Call {lead.name}", assign: owner, due: 1d}}
  - {id: done, end: {outcome: handed to sales}}
"""


def faults(html: str) -> list[str]:
    """The steps the page's diagram marks as at fault."""
    return re.findall(r'<g class="[^"]*\bfault\b[^"]*" data-status="([^"]+)"', html)


async def test_a_manager_writes_publishes_and_enrols_from_the_console(api: Api) -> None:
    browser = await signed_in(api, "manager")
    listing = await browser.get("/console/workflows")
    assert listing.status_code == 200
    assert 'href="/console/workflows" aria-current="page"' in listing.text
    assert "No workflows yet." in said(listing)

    faulty = WORKFLOW.replace("template: welcome}", "template: bye}").replace(
        "{lead.name}\", assign", "{lead.shoe_size}\", assign")
    refused = await browser.post("/console/workflows", data={
        "csrf": csrf(listing.text), "yaml": faulty})
    assert refused.status_code == 422
    assert re.findall(r'<li class="problem" data-step="([^"]*)"', refused.text) == [
        "welcome", "call"]
    assert "Step call : title: {lead.shoe_size}: a lead has no such field" in said(refused)
    assert faults(refused.text) == ["welcome", "call"]
    assert "template: bye}" in refused.text  # what was typed is kept, to be corrected
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(WorkflowDefinition.id))) == 0

    created = await browser.post("/console/workflows", data={
        "csrf": csrf(listing.text), "yaml": WORKFLOW})
    assert created.status_code == 303, created.text
    page = await browser.get(created.headers["location"])
    assert "Workflow created as a draft." in said(page)
    assert re.findall(r'data-status="([^"]+)"', page.text) == [
        "welcome", "pause", "call", "done"]
    assert "not published yet" in said(page)
    published = await browser.post(f"{page.url.path}/publish", data={"csrf": csrf(page.text)})
    assert published.status_code == 303
    page = await browser.get(published.headers["location"])
    assert "version 1 is active" in said(page)

    lead = await new_lead(api, "zoe@acme.example")
    enrolled = await browser.post(f"{page.url.path}/enrol", data={
        "csrf": csrf(page.text), "object_ids": str(lead["id"])})
    assert enrolled.status_code == 303, enrolled.text
    [welcome] = await eventually(lambda: [m for m in api.mail.to("zoe@acme.example")
                                          if m.subject == "Welcome, Zoé"])
    assert "Hello Zoé, thank you." in welcome.message.get_body(("plain",)).get_content()
    async with api.sessions() as session:
        enrolment = await session.scalar(select(Enrolment))
    assert enrolment is not None

    async def at_pause() -> httpx.Response | None:
        case = await browser.get(f"/console/enrolments/{enrolment.id}")
        return case if 'data-status="pause" aria-current="step"' in case.text else None

    case = await eventually(at_pause)
    assert current_step(case.text) == "pause"
    assert "Welcome, Zoé → zoe@acme.example" in said(case)
    page = await browser.get(page.url.path)
    assert f'href="/console/enrolments/{enrolment.id}"' in page.text
    assert "Version 1, published" in said(page) and "— 1 enrolment" in said(page)

    cancelled = await browser.post(f"/console/enrolments/{enrolment.id}/cancel", data={
        "csrf": csrf(case.text), "reason": "Met at the fair, calling now"})
    assert cancelled.status_code == 303
    case = await browser.get(cancelled.headers["location"])
    assert "Status: cancelled" in said(case)
    assert 'aria-current="step"' not in case.text


async def test_a_rep_reads_workflows_but_cannot_write_one(api: Api) -> None:
    browser = await signed_in(api, "rep")
    listing = await browser.get("/console/workflows")
    assert listing.status_code == 200
    assert 'id="definition-yaml"' not in listing.text  # no editor for a rep
    refused = await browser.post("/console/workflows", data={
        "csrf": csrf(listing.text), "yaml": WORKFLOW})
    assert refused.status_code == 403
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(WorkflowDefinition.id))) == 0
    schema = await (await signed_in(api, "manager")).get("/console/workflows/schema")
    assert schema.status_code == 200 and "steps" in schema.json()["properties"]


async def test_the_french_enterprise_workflow_written_in_the_console_runs_for_a_real_lead(
    api: Api,
) -> None:
    """The issue's example, typed into the console's editor as a manager would: it enrols
    the French lead with a budget when it is created, not the small one."""
    browser = await signed_in(api, "manager")
    listing = await browser.get("/console/workflows")
    created = await browser.post("/console/workflows", data={
        "csrf": csrf(listing.text), "yaml": ENTERPRISE_FR})
    assert created.status_code == 303, created.text
    page = await browser.get(created.headers["location"])
    assert re.findall(r'data-status="([^"]+)"', page.text) == [
        "welcome", "pause", "call", "qualified_in_time", "done", "remind", "escalate",
        "escalated"]
    published = await browser.post(f"{page.url.path}/publish", data={"csrf": csrf(page.text)})
    assert published.status_code == 303

    french = await new_lead(api, "zoe@acme.example", country="FR", budget="50000")
    small = await new_lead(api, "tom@acme.example", country="FR", budget="500")
    await eventually(lambda: [m for m in api.mail.to("zoe@acme.example")
                              if m.subject == "Bienvenue, Zoé"])
    async with api.sessions() as session:
        enrolled = list(await session.scalars(select(Enrolment)))
    assert [e.object_id for e in enrolled] == [french["id"]]
    assert small["id"] not in [e.object_id for e in enrolled]

    async def waiting_two_working_days() -> httpx.Response | None:
        case = await browser.get(f"/console/enrolments/{enrolled[0].id}")
        return case if 'data-status="pause" aria-current="step"' in case.text else None

    case = await eventually(waiting_two_working_days)
    assert "Bienvenue, Zoé → zoe@acme.example" in said(case)


async def test_a_predefined_workflow_is_a_start_for_ones_own(api: Api) -> None:
    browser = await signed_in(api, "manager")
    listing = await browser.get("/console/workflows")
    assert 'href="/console/workflows?start=lead-nurturing"' in listing.text
    start = await browser.get("/console/workflows?start=lead-nurturing")
    [text] = re.findall(r'<textarea[^>]*>(.*?)</textarea>', start.text, re.S)
    assert unescape(text) == reading.predefined()["lead-nurturing"]
    created = await browser.post("/console/workflows", data={
        "csrf": csrf(start.text), "yaml": unescape(text)})
    assert created.status_code == 303, created.text
    page = await browser.get(created.headers["location"])
    assert "Lead nurturing (seed 001)" in said(page)
    assert len(re.findall(r'<g class="step[^"]*" data-status=', page.text)) == 16


async def test_a_manager_decides_an_approval_on_the_enrolment_page(api: Api) -> None:
    """The predefined quote rule: the author finds no way to approve; a manager of the team
    rejects it from the page, saying why, and the history keeps the decision."""
    created = await api.call("POST", "/workflow-definitions", "admin", json={
        "definition": yaml.safe_load(reading.predefined()["quote-approval"])})
    definition_id = created.json()["id"]
    await api.call("POST", f"/workflow-definitions/{definition_id}/publish", "admin")
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    [enrolment] = (await api.call("POST", f"/workflow-definitions/{definition_id}/enrol",
                                  "admin", json={"object_ids": [quote.id]})).json()
    await eventually(lambda: api.mail.to(api.team.manager.email))

    author = await signed_in(api, "rep")
    case = await author.get(f"/console/enrolments/{enrolment['id']}")
    refused = await author.post(f"/console/enrolments/{enrolment['id']}/decision", data={
        "csrf": csrf(case.text), "decision": "approve"})
    assert refused.status_code == 403
    assert f"the author of quote {quote.id} cannot approve or reject it" in said(refused)

    manager = await signed_in(api, "manager")
    case = await manager.get(f"/console/enrolments/{enrolment['id']}")
    assert 'id="approval"' in case.text and "Step approval: approve or reject" in said(case)
    rejected = await manager.post(f"/console/enrolments/{enrolment['id']}/decision", data={
        "csrf": csrf(case.text), "decision": "reject", "comment": "Too generous"})
    assert rejected.status_code == 303, rejected.text
    case = await manager.get(rejected.headers["location"])
    assert "Rejected." in said(case)
    assert 'id="approval"' not in case.text
    assert "approval : rejected by Maria: Too generous" in said(case)
    await eventually(lambda: api.mail.to(api.team.rep.email))
    assert [m.subject for m in api.mail.to(api.team.rep.email)] == [
        f"Quote {quote.id} is rejected"]
