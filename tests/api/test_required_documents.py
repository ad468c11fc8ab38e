"""Seed 003's lost SIM, end to end by email: the agent asks for a proof of address, the
ticket waits for that document — a reply without it is only kept — and the customer's reply
with a photo attached resumes it through the back-office check, which shows the file. A
document uploaded through the API does the same; another kind does not. A milestone whose
policy asks for a sign-off is completed only once one is attached; a workflow of your own
waits for a document of a kind. On SQLite and PostgreSQL, with the real worker."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from sqlalchemy import select

from crm import db
from crm.models import StoredFile, Task, Ticket
from tests import factories
from tests.api.conftest import Api
from tests.api.test_console import csrf_of, signed_in
from tests.api.test_files import PDF, PNG, upload
from tests.api.test_inbound_email import JANE, email, post
from tests.api.test_own_workflows import create, publish
from tests.api.test_projects import _active, complete, started
from tests.api.test_tickets import _assigned, opened, support_tokens, ticket_view
from tests.test_own_definitions import changed, refusals
from tests.waiting import eventually

ASK = {"what": "Please send us a proof of address (a recent bill).",
       "document": "proof_of_address"}


def reply_to(ack_id: str, subject: str, text: str, *attached: tuple[bytes, str]) -> bytes:
    message = EmailMessage()
    message["From"], message["To"] = JANE, "support@crmflow.localhost"
    message["Subject"], message["In-Reply-To"] = f"Re: {subject}", ack_id
    message["Message-ID"] = make_msgid(domain="mail.acme.example")
    message.set_content(text)
    for content, name in attached:
        message.add_attachment(content, maintype="image", subtype="png", filename=name)
    return message.as_bytes()


async def waiting_for(api: Api, ticket_id: int) -> str | None:
    async with db.unit_of_work(api.sessions) as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.awaited_document


async def test_the_lost_sim_resumes_when_the_proof_arrives_by_email(api: Api) -> None:
    team = await support_tokens(api)
    raw, _ = email(JANE, "Lost my SIM card", "I lost my SIM card, please block it.")
    code, first = await post(api, raw)
    assert code == 201
    ticket_id = first["ticket_id"]
    await eventually(lambda: _assigned(api, ticket_id))
    asked = await api.call("POST", f"/tickets/{ticket_id}/request-info", "sam", json=ASK)
    assert asked.status_code == 200, asked.text
    assert (asked.json()["status"], asked.json()["awaited_document"]) == (
        "waiting_on_customer", "proof_of_address")
    assert "for the proof of address" in asked.json()["waiting_for"]
    [question] = await eventually(
        lambda: [m for m in api.mail.to(JANE) if "proof of address" in m.text])

    # A reply without the document is kept; the ticket goes on waiting for it.
    code, added = await post(api, reply_to(question.message["Message-ID"], question.subject,
                                           "I will send it tonight."))
    assert (code, added["outcome"]) == (200, "message_added")
    still = await ticket_view(api, ticket_id)
    assert still["status"] == "waiting_on_customer"
    assert still["messages"][-1]["body"] == "I will send it tonight."
    assert await waiting_for(api, ticket_id) == "proof_of_address"

    # The photo of her bill resumes it: kept as the proof, checked in the back office.
    code, added = await post(api, reply_to(question.message["Message-ID"], question.subject,
                                           "Here is my bill.", (PNG, "bill.png")))
    assert (code, added["outcome"], added["attachments_refused"]) == (200, "message_added", [])
    async with db.unit_of_work(api.sessions) as session:
        [proof] = await session.scalars(select(StoredFile))
    assert (proof.object_id, proof.kind, proof.source, proof.name) == (
        ticket_id, "proof_of_address", "email", "bill.png")
    resumed = await ticket_view(api, ticket_id)
    assert resumed["status"] == "back_office"
    [task] = resumed["tasks"]
    assert (task["title"], task["assignee_id"]) == (
        f"Ticket {ticket_id}: check the proof of address", team.agent.id)
    async with db.unit_of_work(api.sessions) as session:
        check = await session.get(Task, task["id"])
        assert check is not None
    assert check.description == (
        f"The proof of address the customer sent: bill.png (/files/{proof.id})")
    shown = await api.call("GET", f"/files/{proof.id}", "sam")
    assert shown.status_code == 200 and shown.content == PNG
    assert await waiting_for(api, ticket_id) is None

    done = await api.call("POST", f"/tasks/{task['id']}/complete", "sam",
                          json={"outcome": "address confirmed"})
    assert done.status_code == 200

    async def moved_on() -> bool:
        return (await ticket_view(api, ticket_id))["status"] == "open"

    await eventually(moved_on)


async def test_an_uploaded_document_of_the_awaited_kind_resumes_the_ticket(api: Api) -> None:
    await support_tokens(api)
    ticket_id = (await opened(api, subject="New address"))["id"]
    await eventually(lambda: _assigned(api, ticket_id))
    await api.call("POST", f"/tickets/{ticket_id}/request-info", "sam", json=ASK)
    path = f"/tickets/{ticket_id}/files"
    other = await upload(api, path, "website", "contract.pdf", PDF, "application/pdf",
                         kind="contract")
    assert other.status_code == 201
    assert (await ticket_view(api, ticket_id))["status"] == "waiting_on_customer"
    proof = await upload(api, path, "website", "bill.pdf", PDF, "application/pdf",
                         kind="proof_of_address")
    assert proof.status_code == 201, proof.text

    async def in_back_office() -> dict | None:
        shown = await ticket_view(api, ticket_id)
        return shown if shown["status"] == "back_office" and shown["tasks"] else None

    resumed = await eventually(in_back_office)
    assert [t["title"] for t in resumed["tasks"]] == [
        f"Ticket {ticket_id}: check the proof of address"]
    bad = await api.call("POST", f"/tickets/{ticket_id}/request-info", "sam",
                         json={**ASK, "document": "Proof of address!"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["document"]


async def test_a_milestone_is_completed_once_its_sign_off_is_attached(
    api: Api, policy_file: Path,
) -> None:
    policy_file.write_text('[project]\nmilestone_sign_off = "sign_off"\n')
    mine = await started(api)
    body = await eventually(lambda: _active(api, mine["id"]))
    first = body["milestones"][0]
    refused = await complete(api, mine["id"], first["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["missing"] == ["sign_off"]
    assert "sign off is attached" in refused.json()["detail"]
    path = f"/projects/{mine['id']}/milestones/{first['id']}/files"
    other = await upload(api, path, "manager", "minutes.pdf", PDF, "application/pdf",
                         kind="minutes")
    assert other.status_code == 201, other.text
    assert (await complete(api, mine["id"], first["id"])).status_code == 409
    # Maria adds the signed sheet on the milestone from the project's page.
    maria = await signed_in(api, "manager")
    page = await maria.get(f"/console/projects/{mine['id']}")
    assert f'<option value="{first["id"]}">milestone {first["name"]}</option>' in page.text
    added = await maria.post(f"/console/projects/{mine['id']}/files", data={
        "csrf": csrf_of(page.text), "kind": "sign_off", "milestone": str(first["id"])},
        files={"file": ("signed.pdf", PDF, "application/pdf")})
    assert added.status_code == 303, added.text
    page = await maria.get(added.headers["location"])
    assert f'signed.pdf</a> <span class="meta">on {first["name"]}</span>' in page.text
    [signed] = [f for f in (await api.call("GET", path, "manager")).json()
                if f["kind"] == "sign_off"]
    assert [f["name"] for f in (await api.call("GET", path, "rep")).json()] == [
        "minutes.pdf", "signed.pdf"]
    # The milestone's file is read as its project is: Maria's team, not another's.
    assert (await api.call("GET", signed["url"], "rep")).status_code == 200
    assert (await api.call("GET", signed["url"], "foreign_manager")).status_code == 403
    done = await complete(api, mine["id"], first["id"])
    assert done.status_code == 200, done.text


async def test_the_agent_sees_the_proof_on_the_ticket_and_its_check_in_the_console(
    api: Api,
) -> None:
    await support_tokens(api)
    ticket_id = (await opened(api, subject="Lost SIM"))["id"]
    await eventually(lambda: _assigned(api, ticket_id))
    await api.call("POST", f"/tickets/{ticket_id}/request-info", "sam", json=ASK)
    sam = await signed_in(api, "sam")
    page = await sam.get(f"/console/tickets/{ticket_id}")
    assert page.status_code == 200 and "Files</h2>" in page.text and "None yet." in page.text
    # The proof came by post: Sam adds the scan through the console's form.
    added = await sam.post(f"/console/tickets/{ticket_id}/files",
                           data={"csrf": csrf_of(page.text), "kind": "proof_of_address"},
                           files={"file": ("scan.png", PNG, "image/png")})
    assert added.status_code == 303, added.text
    assert added.headers["location"] == f"/console/tickets/{ticket_id}?done=file"

    async def checked() -> bool:
        return bool((await ticket_view(api, ticket_id))["tasks"])

    await eventually(checked)
    page = await sam.get(added.headers["location"])
    assert "File added." in page.text
    [proof] = (await api.call("GET", f"/tickets/{ticket_id}/files", "sam")).json()
    assert f'<a href="/console/files/{proof["id"]}">scan.png</a>' in page.text
    assert f'<img src="/console/files/{proof["id"]}" alt="scan.png"' in page.text
    assert (f'The proof of address the customer sent: scan.png (<a href="/console/files/'
            f'{proof["id"]}">file {proof["id"]}</a>)') in page.text  # the check shows it
    shown = await sam.get(f"/console/files/{proof['id']}")
    assert shown.status_code == 200 and shown.content == PNG
    assert shown.headers["content-type"] == "image/png"
    # A form without its token, a file the API refuses: said, nothing kept.
    assert (await sam.post(f"/console/tickets/{ticket_id}/files", data={"csrf": "forged"},
                           files={"file": ("x.png", PNG, "image/png")})).status_code == 403
    refused = await sam.post(f"/console/tickets/{ticket_id}/files",
                             data={"csrf": csrf_of(page.text)},
                             files={"file": ("x.exe", b"MZ" + bytes(40), "image/png")})
    assert refused.status_code == 415 and "only application/pdf" in refused.text
    assert len((await api.call("GET", f"/tickets/{ticket_id}/files", "sam")).json()) == 1
    # Someone who may not read the ticket may not read its file through the console either.
    alice = await signed_in(api, "rep")
    assert (await alice.get(f"/console/files/{proof['id']}")).status_code == 403


SIGNED_OFFER = {
    "name": "Signed offer",
    "object": "quote",
    "trigger": {"when": "manual"},
    "templates": {"thanks": {"subject": "Quote {quote.id}: signed", "body": "It came back."}},
    "steps": [
        {"id": "signed", "wait_for": {"event": "document:signed_offer", "timeout": "7d"}},
        {"id": "tell", "notify": {"to": "manager", "template": "thanks"}},
    ],
}


async def test_a_workflow_of_your_own_waits_for_a_document_of_a_kind(api: Api) -> None:
    definition = await create(api, SIGNED_OFFER)
    await publish(api, definition["id"])
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep)
    enrolled = await api.call("POST", f"/workflow-definitions/{definition['id']}/enrol",
                              "admin", json={"object_ids": [quote.id]})
    assert enrolled.status_code == 201, enrolled.text
    [enrolment] = enrolled.json()

    async def at_step(step: str) -> bool:
        shown = await api.call("GET", f"/enrolments/{enrolment['id']}", "admin")
        return shown.json()["step"] == step

    await eventually(lambda: at_step("signed"))
    path = f"/quotes/{quote.id}/files"
    assert (await upload(api, path, "rep", "draft.pdf", PDF, "application/pdf",
                         kind="draft")).status_code == 201
    assert not api.mail.to(api.team.manager.email)  # another kind: still waiting
    assert (await upload(api, path, "rep", "signed.pdf", PDF, "application/pdf",
                         kind="signed_offer")).status_code == 201
    [told] = await eventually(lambda: api.mail.to(api.team.manager.email))
    assert told.subject == f"Quote {quote.id}: signed"


def test_a_document_is_waited_for_only_on_what_carries_files() -> None:
    lead_wait = changed(steps=[{"id": "proof", "wait_for": {
        "event": "document:proof_of_address", "timeout": "7d"}}])
    assert refusals(lead_wait) == [
        "step 'proof': a lead carries no files: no document reaches it"]
    bad_kind = {**SIGNED_OFFER, "steps": [{"id": "signed", "wait_for": {
        "event": "document:Signed Offer", "timeout": "7d"}}]}
    assert refusals(bad_kind) == [
        "step 'signed': 'document:Signed Offer': a document's kind is a word of lowercase "
        "letters, digits and _ (document:proof_of_address)"]
