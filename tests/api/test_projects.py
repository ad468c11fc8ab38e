"""Projects through the API, on SQLite and PostgreSQL, with the real worker and dev server:
from a won quote to a closed project, a sale's project started by hand once, who may do
what, timesheets and expenses in the totals, and the templates admins manage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from crm import db
from crm.models import Project
from tests import factories
from tests.api.conftest import Api
from tests.api.test_legibility import current_details, timeline
from tests.waiting import eventually

TODAY = datetime.now(UTC).date()
BUILT_IN = ["Kick-off workshop", "Configuration", "Training", "Go-live"]


async def started(api: Api, **sale: Any) -> dict[str, Any]:
    """A sale of Alice's, its project started by hand (POST /sales/{id}/project)."""
    sale_id = await factories.sale(api.sessions, api.team, **sale)
    response = await api.call("POST", f"/sales/{sale_id}/project", "rep")
    assert response.status_code == 201, response.text
    return dict(response.json())


async def project(api: Api, project_id: int, who: str = "manager") -> dict[str, Any]:
    response = await api.call("GET", f"/projects/{project_id}", who)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def complete(api: Api, project_id: int, milestone_id: int, who: str = "manager") -> Any:
    return await api.call("POST", f"/projects/{project_id}/milestones/{milestone_id}/complete",
                          who)


async def test_from_a_won_quote_to_a_closed_project(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = (await api.call("POST", "/quotes", "rep", json={
        "lead_id": lead.id, "lines": [{"description": "CRM rollout", "quantity": 1,
                                       "unit_price": "1000.00"}]})).json()
    assert (await api.call("POST", f"/quotes/{quote['id']}/submit", "rep")).status_code == 200
    assert (await api.call("POST", f"/quotes/{quote['id']}/send", "rep")).status_code == 200
    won = await api.call("POST", f"/quotes/{quote['id']}/customer-response", "website",
                         json={"accepted": True})
    assert won.json()["status"] == "won"

    # The quote's process started the project: Maria manages it.
    [mine] = await eventually(lambda: _listed(api, "manager", scope="mine"))
    assert (mine["customer"], mine["amount"], mine["template"]) == ("Acme", "1000.00", "standard")
    assert await _listed(api, "other_manager", scope="mine") == []
    body = await eventually(lambda: _active(api, mine["id"]))
    assert [(p["name"], p["role"]) for p in body["participants"]] == [
        ("Alice", "account_owner"), ("Maria", "project_manager"), ("Carl", "billing")]
    assert [(m["name"], m["amount"], m["state"]) for m in body["milestones"]] == [
        (name, amount, "open") for name, amount in zip(
            BUILT_IN, ["200.00", "300.00", "200.00", "300.00"], strict=True)]
    tasks = await eventually(lambda: _tasks(api, mine["id"], 3))
    carl = body["participants"][2]["user_id"]
    assert [t["assignee_id"] for t in tasks] == [api.team.manager.id, api.team.rep.id, carl]
    assert body["process_id"] == f"project-{mine['sale_id']}"

    for milestone in body["milestones"]:
        who = "rep" if milestone["name"] == "Training" else "manager"  # its owner
        done = await complete(api, mine["id"], milestone["id"], who)
        assert done.status_code == 200, done.text
    invoices = await eventually(lambda: _invoices(api, mine["id"], 4))
    assert [i["total"] for i in invoices] == ["200.00", "300.00", "200.00", "300.00"]
    for n, invoice in enumerate(invoices):
        paid = await api.call("POST", f"/invoices/{invoice['id']}/payments", "website",
                              json={"amount": invoice["total"], "reference": f"PSP-{n}"})
        assert paid.status_code == 201, paid.text

    body = await eventually(lambda: _in(api, mine["id"], "closed"), timeout=30)
    assert body["totals"]["invoiced"] == body["totals"]["paid"] == "1000.00"
    assert body["closed_at"] is not None
    assert [h["to_status"] for h in body["history"]][-2:] == ["delivered", "closed"]
    [closing] = await eventually(lambda: [m for m in api.mail.to("jane@acme.example")
                                          if m.purpose == "closed:customer"])
    assert closing.subject == f"Project {mine['id']} is complete: Acme: standard"


async def test_a_sale_recorded_by_hand_gets_its_project_once(api: Api) -> None:
    sale_id = await factories.sale(api.sessions, api.team)
    assert (await api.call("POST", f"/sales/{sale_id}/project", "other_rep")).status_code == 403
    assert (await api.call("POST", "/sales/999/project", "manager")).status_code == 404
    key = {"Idempotency-Key": "project-of-sale"}
    first = await api.call("POST", f"/sales/{sale_id}/project", "rep", headers=key)
    assert first.status_code == 201, first.text
    replayed = await api.call("POST", f"/sales/{sale_id}/project", "rep", headers=key)
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (201, "true")
    again = await api.call("POST", f"/sales/{sale_id}/project", "manager")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Project.id))) == 1
    body = first.json()
    assert (body["status"], body["manager_id"], body["process_id"]) == (
        "planned", api.team.manager.id, f"project-{sale_id}")
    assert [m["due_on"] for m in body["milestones"]] == [
        (TODAY + timedelta(days=n)).isoformat() for n in (7, 30, 45, 60)]
    await eventually(lambda: _active(api, body["id"]))


async def test_who_may_act_is_checked_before_what_the_status_allows(api: Api) -> None:
    body = await started(api)
    project_id, [kick_off, *_] = body["id"], [m["id"] for m in body["milestones"]]
    await eventually(lambda: _active(api, project_id))

    outsider = await complete(api, project_id, kick_off, "other_rep")  # not on the project
    assert outsider.status_code == 403
    assert outsider.json()["detail"] == (
        f"project {project_id} is not yours: role sales_rep may "
        "POST /projects/{project_id}/milestones/{milestone_id}/complete on their own only")
    refused = await complete(api, project_id, kick_off, "rep")  # on it, not the owner
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("only the project manager (Maria) or the milestone's "
                                        "owner (Maria) completes milestone Kick-off workshop")
    assert (await complete(api, project_id, 999)).status_code == 404
    assert (await complete(api, project_id, kick_off)).status_code == 200
    twice = await complete(api, project_id, kick_off)
    assert twice.status_code == 409
    assert twice.json()["detail"].startswith(
        f"milestone Kick-off workshop of project {project_id} was completed on ")

    cancel = f"/projects/{project_id}/cancel"
    assert (await api.call("POST", cancel, "rep", json={"reason": "no"})).status_code == 403
    blank = await api.call("POST", cancel, "manager", json={"reason": " "})
    assert (blank.status_code, blank.json()["errors"][0]["field"]) == (422, "reason")
    cancelled = await api.call("POST", cancel, "manager", json={"reason": "budget cut"})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled.json()["history"][-1]["reason"] == "budget cut"

    later = body["milestones"][1]["id"]
    assert (await complete(api, project_id, later, "other_rep")).status_code == 403
    ended = await complete(api, project_id, later)
    assert ended.status_code == 409
    assert f"project {project_id} is cancelled" in ended.json()["detail"]


async def test_timesheets_and_expenses_are_checked_and_make_the_totals(api: Api) -> None:
    body = await started(api)
    url, team = f"/projects/{body['id']}", api.team
    carl = next(p["user_id"] for p in body["participants"] if p["role"] == "billing")

    def hours(user_id: int, amount: str, day: Any = TODAY) -> dict[str, Any]:
        return {"user_id": user_id, "date": day.isoformat(), "hours": amount,
                "description": "configuration"}

    async def refusal(who: str, path: str, sent: dict[str, Any]) -> tuple[int, Any]:
        response = await api.call("POST", f"{url}/{path}", who, json=sent)
        problem = response.json()
        return response.status_code, [e["field"] for e in problem.get("errors", [])] or None

    assert await refusal("rep", "timesheets", hours(team.rep.id, "25")) == (422, ["hours"])
    assert await refusal("rep", "timesheets", hours(team.rep.id, "0")) == (422, ["hours"])
    assert await refusal("rep", "timesheets", hours(
        team.rep.id, "2", TODAY + timedelta(days=2))) == (422, ["date"])
    assert await refusal("rep", "timesheets", hours(carl, "2")) == (403, None)
    assert await refusal("manager", "timesheets", hours(team.other_rep.id, "2")) == (
        422, ["user_id"])
    assert await refusal("other_rep", "expenses", {
        "date": TODAY.isoformat(), "amount": "10", "description": "taxi"}) == (403, None)
    for bad in ("-5", "0", "1.234"):
        assert await refusal("rep", "expenses", {
            "date": TODAY.isoformat(), "amount": bad, "description": "taxi"}) == (422, ["amount"])

    key = {"Idempotency-Key": "monday"}
    for _ in range(2):  # sent twice, recorded once
        own = await api.call("POST", f"{url}/timesheets", "rep", headers=key,
                             json=hours(team.rep.id, "7.5"))
        assert own.status_code == 201, own.text
    for who, sent in (("manager", hours(carl, "2")),):
        assert (await api.call("POST", f"{url}/timesheets", who, json=sent)).status_code == 201
    expense = await api.call("POST", f"{url}/expenses", "rep", json={
        "date": (TODAY - timedelta(days=1)).isoformat(), "amount": "120.50",
        "description": "train to Acme"})
    assert expense.status_code == 201, expense.text

    detail = await project(api, body["id"], "accountant")
    assert detail["totals"] == {"hours": "9.50", "labour": "760.00", "expenses": "120.50",
                                "costs": "880.50", "invoiced": "0.00", "paid": "0.00",
                                "margin": "-880.50"}
    assert [(t["user_id"], t["hours"], t["recorded_by_id"]) for t in detail["timesheets"]] == [
        (team.rep.id, "7.500", team.rep.id), (carl, "2.000", team.manager.id)]


async def test_admins_manage_the_templates_sales_take_by_product_line(api: Api) -> None:
    assert (await api.call("GET", "/project-templates", "manager")).status_code == 403
    [built_in] = (await api.call("GET", "/project-templates", "admin")).json()
    assert (built_in["name"], built_in["built_in"], built_in["id"]) == ("standard", True, None)

    template: dict[str, Any] = {
        "name": "training", "product_line": "academy", "hourly_cost": "60.00",
        "members": [{"role": "trainer", "crm_role": "sales_rep"}],
        "milestones": [{"name": "Course", "due_after_days": 14, "billable_pct": "90",
                        "owner_role": "coach"}],
        "tasks": [{"title": "Book the room", "role": "trainer", "due_after_days": 1}],
    }
    bad = await api.call("POST", "/project-templates", "admin", json=template)
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["milestones.0.owner_role",
                                                          "milestones"]
    template["milestones"][0].update(billable_pct="100", owner_role="trainer")
    made = await api.call("POST", "/project-templates", "admin", json=template)
    assert made.status_code == 201, made.text
    clash = await api.call("POST", "/project-templates", "admin", json=template)
    assert clash.status_code == 409
    template["milestones"].append({"name": "Exam", "due_after_days": 21})
    replaced = await api.call("PUT", f"/project-templates/{made.json()['id']}", "admin",
                              json=template)
    assert replaced.status_code == 200 and replaced.json()["updated_at"] is not None

    body = await started(api, product_line="academy")
    assert (body["template"], body["hourly_cost"]) == ("training", "60.00")
    assert [(m["name"], m["owner_id"]) for m in body["milestones"]] == [
        ("Course", api.team.other_rep.id), ("Exam", api.team.manager.id)]
    assert {(p["name"], p["role"]) for p in body["participants"]} == {
        ("Alice", "account_owner"), ("Maria", "project_manager"), ("Bob", "trainer")}


async def test_a_project_reads_like_its_story_in_the_temporal_ui(api: Api) -> None:
    body = await started(api)
    handle = api.temporal.get_workflow_handle(body["process_id"])
    description = await handle.describe()
    assert await description.static_summary() == (
        f"Project {body['id']} for Acme — 4 milestones, 10000.00 EUR invoiced on milestone "
        f"(sale {body['sale_id']})")
    # Ours only: Temporal adds its own (BuildIds, TemporalChangeVersion) once a task is done.
    attributes = {key.name: value for key, value in description.typed_search_attributes
                  if key.name.startswith("Crm")}
    assert attributes == {"CrmProcess": "sale_to_project", "CrmStatus": "planned",
                          "CrmCustomerId": str(body["account_id"]),
                          "CrmOwner": str(api.team.manager.id), "CrmAmount": 10000.0}
    kick_off = TODAY + timedelta(days=7)
    assert await eventually(lambda: _details_are(
        handle, f"Project {body['id']} for Acme: 0 of 4 milestones done; next: Kick-off "
                f"workshop due {kick_off:%d %b}"))
    events = await eventually(lambda: _waiting(handle))
    assert events[0] == ("ACTIVITY_TASK_SCHEDULED",
                         f"project {body['id']} → active: kicked off from template standard: "
                         f"4 milestones, managed by Maria")
    assert ("ACTIVITY_TASK_SCHEDULED", "Send Acme the kick-off") in events
    assert events[-1] == ("TIMER_STARTED", f"Wait until {kick_off + timedelta(days=1)} for "
                                           f"reminder 1 about Kick-off workshop")
    assert all(summary for _, summary in events), events
    listed = await eventually(lambda: _processes(api, "sale_to_project", "active"))
    assert [p["workflow_id"] for p in listed] == [body["process_id"]]


async def _details_are(handle: Any, expected: str) -> bool:
    return await current_details(handle) == expected


async def _waiting(handle: Any) -> list[tuple[str, str | None]] | None:
    events = await timeline(handle)
    return events if events and events[-1][0] == "TIMER_STARTED" else None


async def _processes(api: Api, process: str, status: str) -> list[dict[str, Any]]:
    response = await api.call("GET", "/processes", "manager",
                              params={"type": process, "status": status})
    return list(response.json())


async def _listed(api: Api, who: str, **query: Any) -> list[dict[str, Any]]:
    response = await api.call("GET", "/projects", who, params=query)
    assert response.status_code == 200, response.text
    return list(response.json())


async def _active(api: Api, project_id: int) -> dict[str, Any] | None:
    return await _in(api, project_id, "active")


async def _in(api: Api, project_id: int, status: str) -> dict[str, Any] | None:
    body = await project(api, project_id)
    return body if body["status"] == status else None


async def _tasks(api: Api, project_id: int, count: int) -> list[dict[str, Any]]:
    tasks = (await project(api, project_id))["tasks"]
    return list(tasks) if len(tasks) == count else []


async def _invoices(api: Api, project_id: int, count: int) -> list[dict[str, Any]]:
    invoices = (await project(api, project_id))["invoices"]
    return list(invoices) if len(invoices) == count else []

