"""Leads through the API: creation starts the process, events reach it, the rep qualifies."""

from __future__ import annotations

from sqlalchemy import select

from crm import db
from crm.models import Account, Lead, LeadEvent, Task
from tests.api.conftest import Api
from tests.waiting import eventually
from workflows.lead_to_sale import LeadToSale


async def create(api: Api, who: str = "website", **body: object) -> dict[str, object]:
    payload = {"name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme",
               "team_id": api.team.rep.team_id, **body}
    response = await api.call("POST", "/leads", who, json=payload)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def lead_row(api: Api, lead_id: int) -> Lead:
    async with db.unit_of_work(api.sessions) as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


async def test_a_new_lead_starts_its_process_and_gets_the_welcome_email(api: Api) -> None:
    lead = await create(api)
    assert lead["status"] == "new" and lead["source"] == "newsletter"
    assert lead["process_id"] == f"lead-{lead['id']}"

    description = await api.temporal.get_workflow_handle(f"lead-{lead['id']}").describe()
    assert description.workflow_type == "LeadToSale"
    assert await description.static_summary() == "Lead Jane Buyer (Acme) — newsletter sign-up"
    [welcome] = await eventually(lambda: api.mail.to("jane@acme.example"))
    assert welcome.subject == "Welcome to our newsletter, Jane Buyer"
    row = await eventually(lambda: _status_is(api, lead["id"], "nurturing"))
    assert row.workflow_id == f"lead-{lead['id']}"


async def _status_is(api: Api, lead_id: object, status: str) -> Lead | None:
    row = await lead_row(api, int(str(lead_id)))
    return row if row.status == status else None


async def test_a_rep_owns_the_leads_they_create(api: Api) -> None:
    lead = await create(api, "rep", team_id=None)
    assert (lead["owner_id"], lead["team_id"], lead["source"]) == (
        api.team.rep.id, api.team.rep.team_id, "rep"
    )


async def test_a_lead_already_followed_is_not_created_twice(api: Api) -> None:
    first = await create(api)
    response = await api.call("POST", "/leads", "website",
                              json={"name": "Jane again", "email": "jane@acme.example"})
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"lead {first['id']} with email jane@acme.example is still being followed"
    )


async def test_unknown_team_or_owner_is_422_and_creates_nothing(api: Api) -> None:
    response = await api.call("POST", "/leads", "website",
                              json={"name": "X", "email": "x@y.example", "team_id": 99})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "team_id", "message": "no team 99"}]
    response = await api.call("POST", "/leads", "website",
                              json={"name": "X", "email": "x@y.example",
                                    "owner_id": api.team.manager.id})
    assert response.json()["errors"][0]["field"] == "owner_id"
    async with db.unit_of_work(api.sessions) as session:
        assert list(await session.scalars(select(Lead))) == []


async def test_white_paper_download_gives_the_rep_a_task_to_complete(api: Api) -> None:
    lead = await create(api)
    response = await api.call("POST", f"/leads/{lead['id']}/events", "website",
                              json={"type": "content_downloaded", "content": "white_paper"})
    assert response.status_code == 202
    assert response.json()["process"] == "signalled"

    async def rep_tasks() -> list[dict[str, object]]:
        return (await api.call("GET", "/tasks", "rep")).json()  # type: ignore[no-any-return]

    [task] = await eventually(rep_tasks)
    assert task["kind"] == "call_lead" and task["related_id"] == lead["id"]
    assert [m.purpose for m in api.mail.to(api.team.rep.email)] == ["rep_notified"]
    assert (await api.call("GET", "/tasks", "other_rep")).json() == []
    assert (await api.call("GET", "/tasks?assignee=all", "rep")).status_code == 403
    assert len((await api.call("GET", "/tasks?assignee=all", "manager")).json()) == 1

    refused = await api.call("POST", f"/tasks/{task['id']}/complete", "other_rep",
                             json={"outcome": "called"})
    assert refused.status_code == 403
    done = await api.call("POST", f"/tasks/{task['id']}/complete", "rep",
                          json={"outcome": "called, wants a quote"})
    assert done.status_code == 200
    assert done.json()["status"] == "done" and done.json()["outcome"] == "called, wants a quote"
    again = await api.call("POST", f"/tasks/{task['id']}/complete", "rep",
                           json={"outcome": "again"})
    assert again.status_code == 409
    async with db.unit_of_work(api.sessions) as session:
        row = await session.get(Task, task["id"])
        assert row is not None and row.outcome == "called, wants a quote"

    detail = (await api.call("GET", f"/leads/{lead['id']}", "rep")).json()
    assert detail["owner_id"] == api.team.rep.id
    assert [e["type"] for e in detail["events"]] == ["content_downloaded"]
    assert "welcome" in [e["purpose"] for e in detail["emails"]]
    assert [h["to_status"] for h in detail["history"]][:2] == ["nurturing", "engaged"]


async def test_event_without_content_is_422_and_records_nothing(api: Api) -> None:
    lead = await create(api)
    response = await api.call("POST", f"/leads/{lead['id']}/events", "website",
                              json={"type": "content_downloaded"})
    assert response.status_code == 422
    assert "content is required" in response.json()["detail"]
    async with db.unit_of_work(api.sessions) as session:
        assert list(await session.scalars(select(LeadEvent))) == []


async def test_unsubscribe_is_kept_on_the_lead(api: Api) -> None:
    lead = await create(api)
    await api.call("POST", f"/leads/{lead['id']}/events", "website",
                   json={"type": "unsubscribed"})
    assert (await lead_row(api, int(str(lead["id"])))).unsubscribed
    state = await eventually(lambda: _state(api, lead["id"]))
    assert state.unsubscribed


async def _state(api: Api, lead_id: object) -> object:
    handle = api.temporal.get_workflow_handle_for(LeadToSale.run, f"lead-{lead_id}")
    state = await handle.query(LeadToSale.current_state)
    return state if state.unsubscribed else None


async def test_qualification_gate_names_what_is_missing_and_changes_nothing(api: Api) -> None:
    lead = await create(api, "rep")
    response = await api.call("POST", f"/leads/{lead['id']}/qualify", "rep",
                              json={"qualified": True, "need": "a CRM"})
    assert response.status_code == 409
    body = response.json()
    assert body["missing"] == ["budget"]
    assert body["detail"] == "qualifying a lead needs its need and budget; missing: budget"
    row = await lead_row(api, int(str(lead["id"])))
    assert row.need is None and row.account_id is None

    other = await api.call("POST", f"/leads/{lead['id']}/qualify", "other_rep",
                           json={"qualified": True, "need": "a CRM", "budget": 9000})
    assert other.status_code == 403
    assert other.json()["detail"] == (f"lead {lead['id']} is not yours: role sales_rep may "
                                      "POST /leads/{lead_id}/qualify on their own only")


async def test_qualified_lead_becomes_an_opportunity(api: Api) -> None:
    lead = await create(api, "rep", need="a CRM for 20 people")
    response = await api.call("POST", f"/leads/{lead['id']}/qualify", "rep",
                              json={"qualified": True, "budget": "24000", "reason": "called"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["budget"], body["need"]) == (
        "qualified", "24000.00", "a CRM for 20 people"
    )
    async with db.unit_of_work(api.sessions) as session:
        account = await session.get(Account, body["account_id"])
        assert account is not None and account.name == "Acme"
        assert account.owner_id == api.team.rep.id
    assert body["history"][-1]["actor"] == f"user:{api.team.rep.id}"
    assert body["history"][-1]["reason"] == "called"

    again = await api.call("POST", f"/leads/{lead['id']}/qualify", "rep",
                           json={"qualified": True, "budget": 1})
    assert again.status_code == 409
    assert again.json()["detail"] == "lead 1 is qualified (called), so it cannot be qualified"


async def test_events_after_the_process_ended_are_still_recorded(api: Api) -> None:
    lead = await create(api, "rep")
    response = await api.call("POST", f"/leads/{lead['id']}/qualify", "manager",
                              json={"qualified": False, "reason": "a student"})
    assert response.json()["status"] == "disqualified"
    await api.temporal.get_workflow_handle(f"lead-{lead['id']}").result()

    response = await api.call("POST", f"/leads/{lead['id']}/events", "website",
                              json={"type": "unsubscribed"})
    assert response.status_code == 202
    assert response.json()["process"] == "ended"
    assert (await lead_row(api, int(str(lead["id"])))).unsubscribed

    late = await api.call("POST", f"/leads/{lead['id']}/qualify", "manager",
                          json={"qualified": True, "need": "x", "budget": 1})
    assert late.status_code == 409
    assert late.json()["detail"] == f"lead {lead['id']} is disqualified: its process has ended"


async def test_leads_are_listed_by_status_and_owner(api: Api) -> None:
    mine = await create(api, "rep", email="mine@acme.example")
    await create(api, "website", email="other@acme.example", team_id=None)
    owned = (await api.call("GET", f"/leads?owner_id={api.team.rep.id}", "manager")).json()
    assert [lead["id"] for lead in owned] == [mine["id"]]
    by_email = (await api.call("GET", "/leads?email=other@acme.example", "rep")).json()
    assert [lead["email"] for lead in by_email] == ["other@acme.example"]
    assert len((await api.call("GET", "/leads?limit=1", "rep")).json()) == 1
