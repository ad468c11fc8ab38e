"""Parallel requests for one thing make it once: one lead per person, one submission per
double click, one answer per Idempotency-Key. (PostgreSQL shows what SQLite's single write
lock hides: both databases run these.)"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

from crm import db
from crm.models import IdempotentRequest, Lead, LeadEvent, ProcessStart, Quote, StatusChange
from tests import factories
from tests.api.conftest import Api
from tests.waiting import eventually
from workflows.quote_approval import QuoteApproval

JANE = {"name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme"}


async def count(api: Api, column: object, *where: object) -> int:
    async with db.unit_of_work(api.sessions) as session:
        return int(await session.scalar(select(func.count(column)).where(*where)) or 0)


async def test_one_person_signing_up_twenty_times_at_once_is_one_lead(api: Api) -> None:
    answers = await asyncio.gather(*(
        api.call("POST", "/leads", "website", json={**JANE, "email": email})
        for email in ["jane@acme.example"] * 10 + ["Jane@ACME.example"] * 10
    ))

    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 19, [a.text for a in answers if a.status_code >= 500]
    [created] = [a.json() for a in answers if a.status_code == 201]
    refusal = next(a.json() for a in answers if a.status_code == 409)
    assert refusal["detail"] == (
        f"lead {created['id']} with email jane@acme.example is still being followed")
    assert await count(api, Lead.id) == 1
    assert await count(api, ProcessStart.id) == 1
    await eventually(lambda: api.mail.to("jane@acme.example"))
    processes = [p async for p in api.temporal.list_workflows("WorkflowType = 'LeadToSale'")]
    assert [p.id for p in processes] == [f"lead-{created['id']}"]


async def test_the_same_idempotency_key_gets_the_same_answer_and_makes_one_lead(
    api: Api,
) -> None:
    key = {"Idempotency-Key": "website-signup-7f3a"}
    answers = await asyncio.gather(*(
        api.call("POST", "/leads", "website", json=JANE, headers=key) for _ in range(8)
    ))

    assert {a.status_code for a in answers} == {201}
    assert len({a.text for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 7
    assert await count(api, Lead.id) == 1
    assert await count(api, IdempotentRequest.id) == 1

    other = await api.call("POST", "/leads", "website", headers=key,
                           json={**JANE, "email": "joe@acme.example"})
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"
    assert await count(api, Lead.id) == 1
    # Keys are the caller's own: another user's identical key is another request.
    rep = await api.call("POST", "/leads", "rep", headers=key,
                         json={**JANE, "email": "joe@acme.example"})
    assert rep.status_code == 201


async def test_a_repeated_event_with_its_key_is_recorded_once(api: Api) -> None:
    lead = (await api.call("POST", "/leads", "website", json=JANE)).json()
    key = {"Idempotency-Key": "download-1"}
    event = {"type": "content_downloaded", "content": "white_paper"}
    answers = await asyncio.gather(*(
        api.call("POST", f"/leads/{lead['id']}/events", "website", json=event, headers=key)
        for _ in range(3)
    ))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["event_id"] for a in answers}) == 1
    assert await count(api, LeadEvent.id) == 1


async def test_a_double_clicked_submit_submits_once_and_keeps_the_quote_locked(
    api: Api,
) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")

    answers = await asyncio.gather(*(
        api.call("POST", f"/quotes/{quote.id}/submit", "rep") for _ in range(5)
    ))

    ok = [a.json() for a in answers if a.status_code == 200]
    refused = [a.json() for a in answers if a.status_code == 409]
    assert len(ok) + len(refused) == 5, [a.text for a in answers]
    assert ok and {q["status"] for q in ok} == {"pending_approval"}
    assert {q["submission"] for q in ok} == {1}
    for problem in refused:
        assert problem["detail"].startswith(f"quote {quote.id} is ")
    async with db.unit_of_work(api.sessions) as session:
        row = await session.get(Quote, quote.id)
        submitted = await session.scalar(select(func.count(StatusChange.id)).where(
            StatusChange.object_type == "quote", StatusChange.to_status == "submitted"))
    assert row is not None and (row.status, row.submission) == ("pending_approval", 1)
    assert submitted == 1

    edit = await api.call("PATCH", f"/quotes/{quote.id}", "rep", json={"discount_pct": 90})
    assert edit.status_code == 409
    assert [q["id"] for q in (await api.call("GET", "/approvals", "manager")).json()] == [
        quote.id]
    approved = await api.call("POST", f"/quotes/{quote.id}/decision", "manager",
                              json={"approve": True, "comment": "ok"})
    assert approved.status_code == 200
    assert Decimal(approved.json()["discount_pct"]) == Decimal("25")
    runs = [p async for p in api.temporal.list_workflows(f"WorkflowId = 'quote-{quote.id}'")]
    assert len(runs) == 1


async def test_a_patch_racing_a_submit_either_lands_before_it_or_is_refused(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")

    submit, edit = await asyncio.gather(
        api.call("POST", f"/quotes/{quote.id}/submit", "rep"),
        api.call("PATCH", f"/quotes/{quote.id}", "rep", json={"discount_pct": 90}),
    )

    assert submit.status_code == 200
    submitted_discount = Decimal(submit.json()["discount_pct"])
    if edit.status_code == 200:  # the edit came first: the submission carries it
        assert submitted_discount == Decimal("90")
    else:
        assert edit.status_code == 409 and submitted_discount == Decimal("25")
    handle = api.temporal.get_workflow_handle(f"quote-{quote.id}")
    state = await handle.query(QuoteApproval.current_state)
    assert state.status == "pending_approval"
    description = await handle.describe()
    assert f"{submitted_discount.normalize():f} % discount" in (
        await description.static_summary() or "")


async def test_many_requests_at_once_each_use_one_connection_and_none_jams(api: Api) -> None:
    """With a second connection per request (the caller's token looked up apart), 15
    requests at once held the pool and waited for it forever: every one timed out."""
    lead = (await api.call("POST", "/leads", "website", json=JANE)).json()
    quote = await factories.quote(
        api.sessions, await factories.qualified_lead(api.sessions, api.team.rep), api.team.rep)
    reads = [api.call("GET", f"/leads/{lead['id']}", "rep") for _ in range(24)]
    reads += [api.call("GET", f"/quotes/{quote.id}", "manager") for _ in range(24)]

    answers = await asyncio.wait_for(asyncio.gather(*reads), 60)

    assert {a.status_code for a in answers} == {200}
