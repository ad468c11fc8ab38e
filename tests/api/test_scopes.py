"""The scope holes issue 11 found, each closed: another team's people act on and read only
their own team's leads, quotes and tasks; support and accounting do not read sales
processes; every lead is followed by a sales team, and only by one."""

from __future__ import annotations

from crm import db
from crm.models import User
from crm.repo import people, tasks
from tests import factories
from tests.api.conftest import Api
from tests.api.test_tickets import support_tokens
from tests.waiting import eventually
from workflows.roles import Role


async def nordic_rep(api: Api) -> int:
    """Olaf, a rep of the Nordics team (Nora's), with his token: his id."""
    async with db.unit_of_work(api.sessions) as session:
        olaf = await people.create_user(session=session, name="Olaf", email="olaf@crm.example",
                                        role=Role.SALES_REP, team="Nordics")
        api.tokens["olaf"] = await people.issue_token(session=session, user=olaf)
        return olaf.id


async def validated_quote(api: Api) -> tuple[int, int]:
    """A quote of Alice's, validated and sent on: (lead id, quote id)."""
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="5")
    submitted = await api.call("POST", f"/quotes/{quote.id}/submit", "rep")
    assert submitted.json()["status"] == "validated", submitted.text
    return lead.id, quote.id


async def test_another_teams_rep_neither_sends_nor_answers_nor_posts_events(api: Api) -> None:
    await nordic_rep(api)
    lead_id, quote_id = await validated_quote(api)
    for route, body, why in (
            ("/quotes/{quote_id}/send", None, f"quote {quote_id} is not yours"),
            ("/quotes/{quote_id}/customer-response", {"accepted": False},
             f"quote {quote_id} is not yours"),
            ("/leads/{lead_id}/events", {"type": "demo_requested"},
             f"lead {lead_id} is not your team's")):
        url = route.format(quote_id=quote_id, lead_id=lead_id)
        refused = await api.call("POST", url, "olaf", json=body)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.json()["detail"].startswith(f"{why}: role sales_rep may POST {route} ")
    assert (await api.call("GET", f"/quotes/{quote_id}", "rep")).json()["status"] == "validated"
    assert (await api.call("GET", f"/leads/{lead_id}", "rep")).json()["events"] == []
    sent = await api.call("POST", f"/quotes/{quote_id}/send", "rep")
    assert sent.json()["status"] == "sent"


async def test_sales_read_only_their_own_teams_leads_and_quotes(api: Api) -> None:
    olaf = await nordic_rep(api)
    lead_id, quote_id = await validated_quote(api)
    nordic = await factories.qualified_lead(api.sessions, await user(api, olaf))
    for who, role in (("foreign_manager", "sales_manager"), ("olaf", "sales_rep")):
        assert [q["id"] for q in (await api.call("GET", "/leads", who)).json()] == [nordic.id]
        assert (await api.call("GET", "/quotes", who)).json() == []
        refused = await api.call("GET", f"/leads/{lead_id}", who)
        assert refused.status_code == 403
        assert refused.json()["detail"] == (f"lead {lead_id} is not your team's: role {role} "
                                            "may GET /leads/{lead_id} on their team's only")
        assert (await api.call("GET", f"/quotes/{quote_id}", who)).status_code == 403
    for who in ("rep", "other_rep", "manager"):
        assert [q["id"] for q in (await api.call("GET", "/leads", who)).json()] == [lead_id]
        assert [q["id"] for q in (await api.call("GET", "/quotes", who)).json()] == [quote_id]
    assert len((await api.call("GET", "/leads", "admin")).json()) == 2


async def user(api: Api, user_id: int) -> User:
    async with db.unit_of_work(api.sessions) as session:
        return await people.get_user(session=session, user_id=user_id)


async def test_a_manager_sees_and_completes_only_their_teams_tasks(api: Api) -> None:
    olaf = await nordic_rep(api)
    async with db.unit_of_work(api.sessions) as session:
        alices = await tasks.create_task(session=session, kind="call_lead", title="Call Jane",
                                         assignee_id=api.team.rep.id)
        olafs = await tasks.create_task(session=session, kind="call_lead", title="Call Olga",
                                        assignee_id=olaf)
    shown = (await api.call("GET", "/tasks?assignee=all", "manager")).json()
    assert [t["id"] for t in shown] == [alices.id]
    nordic = (await api.call("GET", "/tasks?assignee=all", "foreign_manager")).json()
    assert [t["id"] for t in nordic] == [olafs.id]
    assert (await api.call("GET", f"/tasks?assignee={api.team.rep.id}", "foreign_manager")
            ).json() == []
    refused = await api.call("POST", f"/tasks/{alices.id}/complete", "foreign_manager",
                             json={"outcome": "called"})
    assert refused.status_code == 403
    done = await api.call("POST", f"/tasks/{alices.id}/complete", "manager",
                          json={"outcome": "called"})
    assert done.status_code == 200


async def test_support_and_accounting_read_no_sales_process(api: Api) -> None:
    await support_tokens(api)
    lead_id, quote_id = await validated_quote(api)
    for who in ("accountant", "sam", "lea"):
        for workflow_id in (f"lead-{lead_id}", f"quote-{quote_id}"):
            refused = await api.call("GET", f"/processes/{workflow_id}", who)
            assert refused.status_code == 403, refused.text
            assert " may not GET /" in refused.json()["detail"]
        assert (await api.call("GET", "/processes?type=quote_approval", who)).status_code == 403
        shown = (await api.call("GET", "/processes", who)).json()
        assert {p["process"] for p in shown} <= {"invoice_dunning", "support_ticket",
                                                 "sale_to_project"}
    assert (await api.call("GET", f"/processes/quote-{quote_id}", "foreign_manager")
            ).status_code == 403
    read = await api.call("GET", f"/processes/quote-{quote_id}", "manager")
    assert read.status_code == 200 and read.json()["state"]["status"] == "validated"

    async def listed() -> list[str]:
        answer = await api.call("GET", "/processes?type=quote_approval", "manager")
        return [p["workflow_id"] for p in answer.json()]

    assert await eventually(listed) == [f"quote-{quote_id}"]
    assert (await api.call("GET", "/processes?type=quote_approval", "foreign_manager")
            ).json() == []


async def test_a_lead_is_followed_by_a_sales_team_and_only_by_one(api: Api) -> None:
    await support_tokens(api)
    jane = {"name": "Jane", "email": "jane@acme.example"}
    async with db.unit_of_work(api.sessions) as session:
        support = await people.get_or_create_team(session=session, name="Support")
        nordics = await people.get_or_create_team(session=session, name="Nordics")
    not_sales = await api.call("POST", "/leads", "website", json={**jane, "team_id": support.id})
    assert not_sales.status_code == 422
    assert not_sales.json()["errors"] == [{"field": "team_id", "message": (
        f"team {support.id} (Support) is not a sales team: no sales rep there follows leads")}]
    rep_elsewhere = await api.call("POST", "/leads", "rep", json={**jane, "team_id": nordics.id})
    assert rep_elsewhere.status_code == 403
    assert rep_elsewhere.json()["detail"] == (f"team {nordics.id} is not your team's: role "
                                              "sales_rep may POST /leads on their team's only")

    defaulted = await api.call("POST", "/leads", "website", json=jane)  # one sales team
    assert defaulted.json()["team_id"] == api.team.rep.team_id, defaulted.text
    olaf = await nordic_rep(api)
    teamless = await api.call("POST", "/leads", "website",
                              json={"name": "Olga", "email": "olga@fjord.example"})
    assert teamless.status_code == 422
    assert teamless.json()["errors"][0]["message"] == (
        f"required: the sales team that follows the lead (one of {api.team.rep.team_id} "
        f"Sales, {nordics.id} Nordics)")
    nordic = await api.call("POST", "/leads", "website", json={
        "name": "Olga", "email": "olga@fjord.example", "team_id": nordics.id})
    assert nordic.status_code == 201

    lead_id = nordic.json()["id"]
    await api.call("POST", f"/leads/{lead_id}/events", "website",
                   json={"type": "demo_requested"})

    async def call_task() -> list[dict[str, object]]:
        return (await api.call("GET", "/tasks?assignee=all&related_type=lead", "admin")).json()

    [task] = await eventually(call_task)  # the team's only rep calls, never another team's
    assert (task["kind"], task["related_id"], task["assignee_id"]) == ("call_lead", lead_id,
                                                                       olaf)
