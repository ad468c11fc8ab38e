"""Tickets over HTTP, on SQLite and PostgreSQL: opened, routed, answered in the customer's
email thread, waiting on the customer, resolved and rated — with who may do what checked
before what the status allows, and Idempotency-Key on what creates or records."""

from __future__ import annotations

import asyncio
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select

from crm import db
from crm.models import Invoice, ProcessStart, Ticket
from crm.repo import people, tasks
from crm.support import open_billing_ticket
from tests import factories
from tests.api.conftest import Api
from tests.api.test_legibility import current_details, timeline
from tests.waiting import eventually

JANE = "jane@acme.example"
TICKET = {"contact_email": "Jane@Acme.example", "contact_name": "Jane Buyer",
          "subject": "Cannot log in", "body": "My password is refused.", "category": "billing",
          "priority": "high"}


async def support_tokens(api: Api) -> factories.SupportTeam:
    team = await factories.support_team(api.sessions)
    async with db.unit_of_work(api.sessions) as session:
        for who, user in (("sam", team.agent), ("tia", team.other_agent), ("lea", team.lead)):
            api.tokens[who] = await people.issue_token(session=session, user=user)
    return team


async def opened(api: Api, **fields: object) -> dict:
    answer = await api.call("POST", "/tickets", "website", json={**TICKET, **fields})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def ticket_view(api: Api, ticket_id: int, who: str = "sam") -> dict:
    answer = await api.call("GET", f"/tickets/{ticket_id}", who)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_a_ticket_opened_by_the_website_is_acknowledged_routed_and_queued(
    api: Api,
) -> None:
    team = await support_tokens(api)
    key = {"Idempotency-Key": "form-42"}
    first, again = [await api.call("POST", "/tickets", "website", json=TICKET, headers=key)
                    for _ in range(2)]
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    created = first.json()
    ticket_id = created["id"]
    assert (created["status"], created["requester_email"], created["process_id"]) == (
        "new", JANE, f"ticket-{ticket_id}")
    assert [m["author"] for m in created["messages"]] == ["customer"]

    [ack] = await eventually(lambda: api.mail.to(JANE))
    assert ack.subject == f"[Ticket #{ticket_id}] Cannot log in"
    shown = await eventually(lambda: _assigned(api, ticket_id))
    assert shown["assignee_id"] == team.agent.id and shown["status"] == "open"
    first_response, resolution = shown["clocks"]
    assert (first_response["name"], first_response["state"]) == ("first_response", "running")
    assert (resolution["name"], resolution["target"]) == ("resolution", "PT16H")
    assert first_response["target"] == "PT2H" and first_response["due_at"] is not None
    assert shown["waiting_for"].startswith("with Sam; first response due ")
    assert [h["to_status"] for h in shown["history"]] == ["open"]

    mine = (await api.call("GET", "/tickets?queue=mine", "sam")).json()
    assert [t["id"] for t in mine] == [ticket_id]
    assert (await api.call("GET", "/tickets?queue=mine", "tia")).json() == []
    assert (await api.call("GET", "/tickets?queue=unassigned", "lea")).json() == []
    soon = (await api.call("GET", "/tickets?queue=breaching&within_hours=720", "lea")).json()
    assert [t["id"] for t in soon] == [ticket_id]
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == 1
        assert await session.scalar(select(func.count(ProcessStart.id))) == 1
    assert (await api.call("GET", "/tickets", "rep")).status_code == 403  # sales: not theirs
    assert (await api.call("GET", "/tickets/999", "sam")).status_code == 404


async def _assigned(api: Api, ticket_id: int) -> dict | None:
    """The ticket once routed to an agent (its process has recorded it)."""
    shown = await ticket_view(api, ticket_id)
    return shown if shown["status"] == "open" and shown["waiting_for"] else None


async def test_the_agent_answers_asks_and_resolves_and_the_customer_rates(api: Api) -> None:
    team = await support_tokens(api)
    ticket_id = (await opened(api))["id"]
    await eventually(lambda: _assigned(api, ticket_id))
    url = f"/tickets/{ticket_id}"

    # Who before what: the website cannot answer as an agent, Tia not on Sam's ticket.
    refused = await api.call("POST", f"{url}/messages", "website",
                             json={"body": "hi", "from": "agent"})
    assert refused.status_code == 403
    refused = await api.call("POST", f"{url}/messages", "tia",
                             json={"body": "hi", "from": "agent"})
    assert refused.status_code == 403
    assert (await api.call("POST", f"{url}/rating", "sam", json={"score": 5})).status_code == 403
    early = await api.call("POST", f"{url}/rating", "website", json={"score": 5})
    assert early.status_code == 409
    assert "only a resolved ticket can" in early.json()["detail"]

    answered = await api.call("POST", f"{url}/messages", "sam",
                              json={"body": "We reset it: try again.", "from": "agent"})
    assert answered.status_code == 200, answered.text
    assert [c["state"] for c in answered.json()["clocks"]] == ["met", "running"]
    reply = await eventually(lambda: [m for m in api.mail.to(JANE) if m.purpose == "reply_1"])
    assert "We reset it: try again." in reply[0].text
    [ack] = [m for m in api.mail.to(JANE) if m.purpose == "acknowledgement"]
    assert reply[0].message["In-Reply-To"] == ack.message["Message-ID"]

    asked = await api.call("POST", f"{url}/request-info", "sam",
                           json={"what": "a screenshot of the error"})
    assert asked.json()["status"] == "waiting_on_customer"
    assert asked.json()["waiting_since"] is not None
    assert [c["state"] for c in asked.json()["clocks"]] == ["met", "paused"]
    again = await api.call("POST", f"{url}/request-info", "sam", json={"what": "more"})
    assert again.status_code == 409
    # As an engineer finds it in the Temporal UI.
    handle = api.temporal.get_workflow_handle(f"ticket-{ticket_id}")
    details = await current_details(handle)
    assert details.startswith(f"Ticket {ticket_id} (high): waiting on the customer since ")
    assert "; resolution on hold (" in details
    assert all(summary for _, summary in await timeline(handle))

    async def listed() -> list[dict]:
        query = (f"/processes?type=support_ticket&status=waiting_on_customer"
                 f"&owner={team.agent.id}")
        return (await api.call("GET", query, "lea")).json()

    assert [p["workflow_id"] for p in await eventually(listed)] == [f"ticket-{ticket_id}"]
    written = await api.call("POST", f"{url}/messages", "website",
                             json={"body": "Here it is.", "from": "customer"})
    assert written.json()["status"] == "open"

    resolved = await api.call("POST", f"{url}/resolve", "sam", json={"resolution": "Reset"})
    assert resolved.json()["status"] == "resolved" and resolved.json()["closes_at"]
    reopened = await api.call("POST", f"{url}/reopen", "website")
    assert (reopened.json()["status"], reopened.json()["reopenings"]) == ("open", 1)
    resolved = await api.call("POST", f"{url}/resolve", "sam",
                              json={"resolution": "Browser cache emptied"})
    assert resolved.json()["resolution"] == "Browser cache emptied"
    rated = await api.call("POST", f"{url}/rating", "website",
                           json={"score": 4, "comment": "took a while"},
                           headers={"Idempotency-Key": "rating-1"})
    assert rated.status_code == 200
    assert (rated.json()["status"], rated.json()["rating"]) == ("closed", 4)
    replay = await api.call("POST", f"{url}/rating", "website",
                            json={"score": 4, "comment": "took a while"},
                            headers={"Idempotency-Key": "rating-1"})
    assert replay.json() == rated.json()
    assert [h["to_status"] for h in rated.json()["history"]] == [
        "open", "waiting_on_customer", "open", "resolved", "open", "resolved", "closed"]
    assert [m["author"] for m in rated.json()["messages"]] == [
        "customer", "agent", "agent", "customer"]
    late = await api.call("POST", f"{url}/messages", "website",
                          json={"body": "one more thing", "from": "customer"})
    assert late.status_code == 409
    assert "its process has ended" in late.json()["detail"]
    assert team.agent.id == rated.json()["assignee_id"]


async def test_only_a_lead_assigns_and_only_to_a_support_agent(api: Api) -> None:
    team = await support_tokens(api)
    ticket_id = (await opened(api, category="legal"))["id"]  # nobody has the skill

    async def unassigned() -> list[dict]:
        return (await api.call("GET", "/tickets?queue=unassigned", "lea")).json()

    assert [t["id"] for t in await eventually(unassigned)] == [ticket_id]
    await eventually(lambda: [m for m in api.mail.to(team.lead.email)
                              if m.purpose == f"queued:{team.lead.id}"])
    url = f"/tickets/{ticket_id}/assign"

    assert (await api.call("POST", url, "sam", json={"agent_id": team.agent.id})
            ).status_code == 403
    unknown = await api.call("POST", url, "lea", json={"agent_id": api.team.rep.id})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "agent_id"
    assigned = await api.call("POST", url, "lea", json={"agent_id": team.other_agent.id})
    assert assigned.status_code == 200, assigned.text
    assert (assigned.json()["status"], assigned.json()["assignee_id"]) == (
        "open", team.other_agent.id)
    await eventually(lambda: api.mail.to(team.other_agent.email))


async def test_completing_the_back_office_task_moves_the_ticket_on(api: Api) -> None:
    team = await support_tokens(api)
    ticket_id = (await opened(api, subject="New address"))["id"]
    await eventually(lambda: _assigned(api, ticket_id))
    url = f"/tickets/{ticket_id}"
    await api.call("POST", f"{url}/request-info", "sam", json={
        "what": "a proof of address", "check": "check the proof document"})
    waiting = await api.call("POST", f"{url}/messages", "website",
                             json={"body": "attached", "from": "customer"})
    assert waiting.json()["status"] == "back_office"
    [task] = waiting.json()["tasks"]
    assert (task["title"], task["assignee_id"]) == (
        f"Ticket {ticket_id}: check the proof document", team.agent.id)
    blocked = await api.call("POST", f"{url}/resolve", "sam", json={"resolution": "done"})
    assert blocked.status_code == 409 and blocked.json()["missing"] == [f"task {task['id']}"]

    done = await api.call("POST", f"/tasks/{task['id']}/complete", "sam",
                          json={"outcome": "proof ok"})
    assert done.status_code == 200

    async def moved_on() -> bool:
        return (await ticket_view(api, ticket_id))["status"] == "open"

    await eventually(moved_on)
    history = (await ticket_view(api, ticket_id))["history"]
    assert history[-1]["reason"] == f"task {task['id']} done: proof ok"
    # Other processes' tasks complete as before, without a word to any ticket.
    lead = await factories.lead(api.sessions)
    async with db.unit_of_work(api.sessions) as session:
        call = await tasks.create_task(session=session, kind="call_lead", title="Call",
                                       assignee_id=api.team.rep.id, workflow_id=f"lead-{lead.id}")
    assert (await api.call("POST", f"/tasks/{call.id}/complete", "rep",
                           json={"outcome": "called"})).status_code == 200


async def test_a_dispute_opens_one_billing_ticket_however_often_it_is_raised(api: Api) -> None:
    await support_tokens(api)
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    assert lead.account_id is not None
    async with db.unit_of_work(api.sessions) as session:
        invoice = Invoice(number="INV-9", account_id=lead.account_id, amount=Decimal("90"),
                          issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1))
        session.add(invoice)

    async def raise_dispute() -> int:
        async with api.sessions() as session:
            ticket = await open_billing_ticket(session, api.temporal, api.settings, invoice.id,
                                               lead.account_id or 0, "charged twice", None)
            return ticket.id

    ids = await asyncio.gather(*(raise_dispute() for _ in range(4)))
    assert len(set(ids)) == 1
    shown = await ticket_view(api, ids[0], "lea")
    assert (shown["invoice_id"], shown["category"], shown["requester_email"]) == (
        invoice.id, "billing", JANE)
    await eventually(lambda: _assigned(api, ids[0]))
    resolve = await api.call("POST", f"/tickets/{ids[0]}/resolve", "lea",
                             json={"resolution": "refund"})
    assert resolve.status_code == 409 and resolve.json()["missing"] == ["upheld"]
    upheld = await api.call("POST", f"/tickets/{ids[0]}/resolve", "lea",
                            json={"resolution": "refund", "upheld": True})
    assert upheld.json()["dispute_upheld"] is True
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == 1


async def test_a_category_the_policy_does_not_know_is_refused_and_records_nothing(
    api: Api,
) -> None:
    await support_tokens(api)
    key = {"Idempotency-Key": "form-43"}
    refused = await api.call("POST", "/tickets", "website", headers=key,
                             json={**TICKET, "category": "sim_cards"})
    assert refused.status_code == 422, refused.text
    problem = refused.json()["errors"][0]
    assert problem["field"] == "category"
    assert "no ticket category 'sim_cards'" in problem["message"]
    assert "general, billing, technical, complaint, legal" in problem["message"]
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Ticket.id))) == 0
        assert await session.scalar(select(func.count(ProcessStart.id))) == 0
    # The key was not spent on the refusal: the corrected form goes through under it.
    accepted = await api.call("POST", "/tickets", "website", headers=key,
                              json={**TICKET, "category": "technical"})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["category"] == "technical"
