"""The authorization table walked cell by cell: every API route has a rule, and every role
calling every route gets 403 exactly where ``api.access.RULES`` says it may not — for an
object of its own (or its team's) and for one of another team, so that each scope is seen
to reach as far as it says and no further. Lists are checked the same way: they show one's
own objects and, unless the scope is ``all``, not another team's."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
from fastapi.routing import APIRoute, iter_route_contexts

from api.access import PUBLIC, READS, RULES
from api.app import create_app
from crm import db
from crm.models import Invoice, Project, ProjectMember, Simulation, User
from crm.project_templates import BUILT_IN
from crm.repo import people, projects, quotes, tasks, tickets
from crm.repo.scopes import Scope
from tests import factories
from tests.api.conftest import Api
from workflows.roles import Role

CALLERS = {Role.SALES_REP: "rep", Role.SALES_MANAGER: "manager", Role.ACCOUNTANT: "accountant",
           Role.SUPPORT_AGENT: "sam", Role.SUPPORT_LEAD: "lea", Role.ADMIN: "admin",
           Role.INTEGRATION: "website"}
"""Who calls for each role: Alice, Maria (Sales), Carl (no team), Sam, Lea (Support), Ada
(no team), the website."""
ABSENT = 999_999
"""An id nothing has: a second path id (a milestone) stops the request at 404."""
LISTS = {"GET /leads": "lead_id", "GET /quotes": "quote_id", "GET /projects": "project_id",
         "GET /tickets": "ticket_id", "GET /tasks": "task_id"}
"""List routes, and the kind of object each lists."""


def api_routes() -> list[tuple[str, str]]:
    """(method, path) of every API route: not the console's pages, not the docs."""
    app = create_app()
    return sorted((method, context.path or "")
                  for context in iter_route_contexts(app.routes)
                  if isinstance(context.original_route, APIRoute)
                  and not (context.path or "").startswith("/console")
                  for method in context.original_route.methods)


def test_every_api_route_has_a_rule_and_every_rule_a_route() -> None:
    routed = {f"{method} {path}" for method, path in api_routes()}
    assert routed - set(RULES) - PUBLIC == set(), "routes without a rule in api/access.py"
    assert (set(RULES) | PUBLIC) - routed == set(), "rules of routes that do not exist"


@dataclass
class World:
    """The ids of objects of each caller's own or team's (``mine``) and of another team's
    (``theirs``), by the parameter that names them, then by caller ("rep": anyone else)."""

    mine: dict[str, dict[str, Any]] = field(default_factory=dict)
    theirs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ids(self, who: str, own: bool) -> dict[str, Any]:
        return {name: by_caller.get(who, by_caller["rep"])
                for name, by_caller in (self.mine if own else self.theirs).items()}


async def build_world(api: Api) -> World:
    """Sales (Alice, Maria), Nordics (Olaf), Support (Sam, Lea), Helpdesk (Hugo): a lead, a
    quote per author, a sale, a project, a ticket, a task and a simulation of each side; an
    invoice."""
    support = await factories.support_team(api.sessions)
    team, world = api.team, World()
    async with db.unit_of_work(api.sessions) as session:
        for who, user in (("sam", support.agent), ("lea", support.lead)):
            api.tokens[who] = await people.issue_token(session=session, user=user)
        olaf = await people.create_user(session=session, name="Olaf", role=Role.SALES_REP,
                                        email="olaf@crm.example", team="Nordics")
        hugo = await people.create_user(session=session, name="Hugo", role=Role.SUPPORT_AGENT,
                                        email="hugo@crm.example", team="Helpdesk")
        carl = await people.get_user_by_email(session=session, email="carl@crm.example")
    callers = {"rep": team.rep, "manager": team.manager, "accountant": carl,
               "sam": support.agent, "lea": support.lead, "admin": team.admin}
    lead = await factories.qualified_lead(api.sessions, team.rep)
    foreign_lead = await factories.qualified_lead(api.sessions, olaf)
    authored = {who: (await factories.quote(api.sessions, lead, callers[who])).id
                for who in ("rep", "manager", "admin")}
    foreign_quote = await factories.quote(api.sessions, foreign_lead, olaf)
    async with db.unit_of_work(api.sessions) as session:
        sale = await quotes.create_sale(session=session, quote_id=authored["rep"])
        foreign_sale = await quotes.create_sale(session=session, quote_id=foreign_quote.id)
        project = await _project(session, sale.id, team.manager,
                                 [team.rep, carl, support.agent, support.lead])
        foreign_project = await _project(session, foreign_sale.id, team.foreign_manager, [olaf])
        invoice = Invoice(number="INV-WALK", account_id=lead.account_id, amount=Decimal(100),
                          issued_on=date.today(), due_on=date.today(), lines=[])
        session.add(invoice)
        template = await projects.save_template(session=session, template=BUILT_IN)
        ticket = await _ticket(session, support.agent)
        foreign_ticket = await _ticket(session, hugo)
        task_of = {who: (await tasks.create_task(session=session, kind="walk", title="Walk",
                                                 assignee_id=user.id)).id
                   for who, user in callers.items()}
        foreign_task = await tasks.create_task(session=session, kind="walk", title="Walk",
                                               assignee_id=olaf.id)
        ours, nordics = (Simulation(process="quote_approval", request={}, team_id=team_id)
                         for team_id in (team.rep.team_id, olaf.team_id))
        session.add_all([ours, nordics])
        await session.flush()
        world.mine = {
            "lead_id": {"rep": lead.id}, "quote_id": {**authored}, "sale_id": {"rep": sale.id},
            "project_id": {"rep": project}, "invoice_id": {"rep": invoice.id},
            "ticket_id": {"rep": ticket}, "task_id": task_of,
            "template_id": {"rep": template.id}, "team_id": {"rep": team.rep.team_id},
            "simulation_id": {"rep": ours.id},
            "workflow_id": {"rep": f"lead-{lead.id}", "accountant": f"invoice-{invoice.id}",
                            "sam": f"ticket-{ticket}", "lea": f"ticket-{ticket}"},
        }
        world.theirs = {name: {"rep": value} for name, value in {
            "lead_id": foreign_lead.id, "quote_id": foreign_quote.id, "sale_id": foreign_sale.id,
            "project_id": foreign_project, "invoice_id": invoice.id, "ticket_id": foreign_ticket,
            "task_id": foreign_task.id, "template_id": template.id, "team_id": olaf.team_id,
            "simulation_id": nordics.id,
        }.items()}
        world.theirs["workflow_id"] = {
            "rep": f"lead-{foreign_lead.id}", "accountant": f"invoice-{invoice.id}",
            "sam": f"ticket-{foreign_ticket}", "lea": f"ticket-{foreign_ticket}"}
    return world


async def _project(session: Any, sale_id: int, manager: User, members: list[User]) -> int:
    project = Project(sale_id=sale_id, name="Walk", manager_id=manager.id, status="active")
    session.add(project)
    await session.flush()
    session.add_all(ProjectMember(project_id=project.id, user_id=user.id) for user in members)
    return project.id


async def _ticket(session: Any, agent: User) -> int:
    ticket = await tickets.create_ticket(session=session, requester_email="jane@acme.example",
                                         subject="Walk", category="general",
                                         assignee_id=agent.id, status="open")
    return ticket.id


def expected_scope(rule: str, role: Role, ids: dict[str, Any]) -> Scope | None:
    """The table's answer; a process is read as its object is (``READS``)."""
    if rule == "GET /processes/{workflow_id}" and role in RULES[rule]:
        return RULES[READS[str(ids["workflow_id"]).rpartition("-")[0]]].get(role)
    return RULES[rule].get(role)


SCOPED_BY_BODY = {"POST /quotes": "lead_id", "POST /leads": "team_id"}
"""Routes whose object is named in the body: a lead to quote, the team of a new lead."""


def body_of(rule: str, ids: dict[str, Any], n: int) -> dict[str, Any]:
    """A body naming the object the rule is scoped by, else an empty one: a role allowed is
    refused by validation (422) before anything is done."""
    if rule == "POST /quotes":
        return {"lead_id": ids["lead_id"]}
    if rule == "POST /leads":
        return {"name": "Walk", "email": f"walk{n}@acme.example", "team_id": ids["team_id"]}
    return {}


async def test_every_role_gets_403_exactly_where_the_table_says(api: Api) -> None:
    world = await build_world(api)
    wrong: list[str] = []
    emails = itertools.count()
    for (method, path), (role, who) in itertools.product(api_routes(), CALLERS.items()):
        rule = f"{method} {path}"
        if rule in PUBLIC:
            continue
        scoped = "{" in path or rule in SCOPED_BY_BODY
        for own in (True, False) if scoped else (True,):
            ids = world.ids(who, own)
            expected = expected_scope(rule, role, ids)
            refused = expected is None or not (own or expected == Scope.ALL)
            url = re.sub(r"\{(\w+)\}", lambda m, ids=ids: str(ids.get(m[1], ABSENT)), path)
            if rule in LISTS:
                url += "?limit=500" + ("" if expected in (None, Scope.OWN) else "&assignee=all"
                                       if rule == "GET /tasks" else "")
            body = body_of(rule, ids, next(emails)) if method != "GET" else None
            answer = await api.call(method, url, who, json=body)
            seen = f"{rule} as {role} ({'own' if own else 'theirs'}): {answer.status_code}"
            if answer.status_code >= 500 or (answer.status_code == 403) != refused:
                wrong.append(f"{seen}, expected {'403' if refused else 'not 403'} "
                             f"({expected}): {answer.text[:160]}")
            elif rule in LISTS and not refused:
                wrong += _listed_wrongly(seen, answer, LISTS[rule], world, who, expected)
    assert wrong == [], "\n".join(wrong)


def _listed_wrongly(seen: str, answer: httpx.Response, kind: str, world: World, who: str,
                    scope: Scope | None) -> list[str]:
    listed = {row["id"] for row in answer.json()}
    mine, theirs = world.ids(who, True)[kind], world.ids(who, False)[kind]
    if mine not in listed:
        return [f"{seen}: its own {kind} {mine} is not listed"]
    if (theirs in listed) != (scope == Scope.ALL):
        return [f"{seen}: another team's {kind} {theirs} "
                f"{'is' if theirs in listed else 'is not'} listed ({scope})"]
    return []
