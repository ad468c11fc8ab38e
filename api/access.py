"""Who may do what: one table, for every API endpoint and role, how far the right reaches.

``RULES`` maps each endpoint (``"METHOD /path"``, as routed) to the roles that may call it,
each with its scope: ``own`` (objects that are the caller's), ``team`` (their team's, their
own included) or ``all``. A role the rule does not name is refused (403 naming the rule)
before anything else is read; ``crm.repo.scopes`` says, per kind of object, what is one's
own and one's team's. The scope is applied where the objects are found: the path's object
(``api.lookups``), an object a body names, and the lists, which show only what is within it.
Finer rules of the processes themselves (a quote's author never approves it, only the
project manager cancels) come on top, from the endpoint or the process.

A process (``GET /processes/{workflow_id}``) is read as its object is: ``READS`` names the
rule that applies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser
from crm.errors import Forbidden
from crm.models import User
from crm.repo import scopes
from crm.repo.scopes import Condition, Scope
from workflows.roles import Role

OWN, TEAM, ALL = Scope.OWN, Scope.TEAM, Scope.ALL
REP, MANAGER, ACCOUNTANT = Role.SALES_REP, Role.SALES_MANAGER, Role.ACCOUNTANT
AGENT, SUPPORT_LEAD, ADMIN, INTEGRATION = (
    Role.SUPPORT_AGENT, Role.SUPPORT_LEAD, Role.ADMIN, Role.INTEGRATION)

Rule = Mapping[Role, Scope]


def everyone(scope: Scope) -> Rule:
    return dict.fromkeys(Role, scope)


def staff(scope: Scope) -> Rule:
    """Every role but the outside systems, admins reaching all."""
    return {role: ALL if role == ADMIN else scope for role in Role if role != INTEGRATION}


ADMINS: Rule = {ADMIN: ALL}
ACCOUNTING: Rule = {ACCOUNTANT: ALL, ADMIN: ALL}
ACCOUNTING_OR_CUSTOMER: Rule = {**ACCOUNTING, INTEGRATION: ALL}
SALES_READ: Rule = {REP: TEAM, MANAGER: TEAM, ADMIN: ALL}
AUTHOR: Rule = {REP: OWN, MANAGER: OWN, ADMIN: OWN}
TASKS: Rule = {**staff(OWN), MANAGER: TEAM, SUPPORT_LEAD: TEAM}
PROJECT_READ: Rule = {**staff(OWN), REP: TEAM, MANAGER: TEAM, ACCOUNTANT: ALL}
SUPPORT_READ: Rule = {AGENT: TEAM, SUPPORT_LEAD: TEAM, ADMIN: ALL}
AGENT_WORK: Rule = {AGENT: OWN, SUPPORT_LEAD: TEAM, ADMIN: ALL}
FOR_THE_CUSTOMER: Rule = {INTEGRATION: ALL, AGENT: TEAM, SUPPORT_LEAD: TEAM, ADMIN: ALL}
DESIGNERS: Rule = {ADMIN: ALL, MANAGER: ALL, SUPPORT_LEAD: ALL}
INSIGHTS: Rule = {REP: OWN, MANAGER: TEAM, AGENT: OWN, SUPPORT_LEAD: TEAM, ACCOUNTANT: ALL,
                  ADMIN: ALL}

PUBLIC = frozenset({"GET /health"})
"""Endpoints anyone may call, without a token."""

RULES: dict[str, Rule] = {
    "GET /me": everyone(OWN),
    "GET /policies": everyone(ALL),
    # Leads: a rep creates them in their own team; sales read their team's.
    "POST /leads": {REP: TEAM, INTEGRATION: ALL, ADMIN: ALL},
    "GET /leads": SALES_READ,
    "GET /leads/{lead_id}": SALES_READ,
    "POST /leads/{lead_id}/events": {**SALES_READ, INTEGRATION: ALL},
    "POST /leads/{lead_id}/qualify": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    # Quotes: for a lead of one's own (a rep) or of one's team (a manager).
    "POST /quotes": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "GET /quotes": SALES_READ,
    "GET /quotes/{quote_id}": SALES_READ,
    "PATCH /quotes/{quote_id}": AUTHOR,
    "POST /quotes/{quote_id}/submit": AUTHOR,
    "POST /quotes/{quote_id}/decision": {MANAGER: TEAM, ADMIN: ALL},
    "POST /quotes/{quote_id}/send": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "POST /quotes/{quote_id}/customer-response": {REP: OWN, MANAGER: TEAM, ADMIN: ALL,
                                                  INTEGRATION: ALL},
    "GET /approvals": {MANAGER: TEAM, ADMIN: ALL},
    # Tasks: one's own; a manager or support lead their team's.
    "GET /tasks": TASKS,
    "POST /tasks/{task_id}/complete": TASKS,
    "GET /emails": ADMINS,
    # Projects: people read and record on the projects they are on; sales their team's.
    "POST /sales/{sale_id}/project": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "GET /projects": PROJECT_READ,
    "GET /projects/{project_id}": PROJECT_READ,
    "POST /projects/{project_id}/milestones/{milestone_id}/complete": staff(OWN),
    "POST /projects/{project_id}/cancel": {MANAGER: OWN, ADMIN: ALL},
    "POST /projects/{project_id}/timesheets": staff(OWN),
    "POST /projects/{project_id}/expenses": staff(OWN),
    "GET /project-templates": ADMINS,
    "POST /project-templates": ADMINS,
    "PUT /project-templates/{template_id}": ADMINS,
    # Invoices: accounting's, all of them; the customer pays, disputes, promises.
    "POST /invoices": ACCOUNTING,
    "GET /invoices": ACCOUNTING,
    "GET /invoices/{invoice_id}": ACCOUNTING,
    "POST /invoices/{invoice_id}/payments": ACCOUNTING_OR_CUSTOMER,
    "POST /invoices/{invoice_id}/dispute": ACCOUNTING_OR_CUSTOMER,
    "POST /invoices/{invoice_id}/promise": ACCOUNTING_OR_CUSTOMER,
    "POST /invoices/{invoice_id}/dispute/resolve": ACCOUNTING,
    "POST /invoices/{invoice_id}/write-off": ACCOUNTING,
    # Tickets: support's; an agent works the tickets that are theirs or nobody's yet.
    "POST /tickets": {INTEGRATION: ALL, AGENT: ALL, SUPPORT_LEAD: ALL, ADMIN: ALL},
    "GET /tickets": SUPPORT_READ,
    "GET /tickets/{ticket_id}": SUPPORT_READ,
    "POST /tickets/{ticket_id}/messages": FOR_THE_CUSTOMER,
    "POST /tickets/{ticket_id}/request-info": AGENT_WORK,
    "POST /tickets/{ticket_id}/resolve": AGENT_WORK,
    "POST /tickets/{ticket_id}/assign": {SUPPORT_LEAD: TEAM, ADMIN: ALL},
    "POST /tickets/{ticket_id}/reopen": FOR_THE_CUSTOMER,
    "POST /tickets/{ticket_id}/rating": {INTEGRATION: ALL, ADMIN: ALL},
    "POST /inbound/email": {INTEGRATION: ALL, ADMIN: ALL},
    # Your own workflows: their designers edit them (each definition names who may edit,
    # enrol and act on its steps); staff read them.
    "GET /workflow-definitions/schema": staff(ALL),
    "POST /workflow-definitions": DESIGNERS,
    "GET /workflow-definitions": staff(ALL),
    "GET /workflow-definitions/{definition_id}": staff(ALL),
    "PUT /workflow-definitions/{definition_id}/draft": DESIGNERS,
    "POST /workflow-definitions/{definition_id}/publish": DESIGNERS,
    "POST /workflow-definitions/{definition_id}/archive": DESIGNERS,
    "POST /workflow-definitions/{definition_id}/enrol": staff(ALL),
    "GET /workflow-definitions/{definition_id}/enrolments": staff(ALL),
    "GET /enrolments/{enrolment_id}": staff(ALL),
    "POST /enrolments/{enrolment_id}/cancel": DESIGNERS,
    "POST /enrolments/{enrolment_id}/decision": staff(ALL),
    # Processes: staff, each process as its object is read (READS).
    # Simulations: a sales manager replays their team's quotes, an accountant invoices, an
    # admin anything (the process says who besides admins: simulation.cases.Subject).
    "POST /simulations": {MANAGER: TEAM, ACCOUNTANT: ALL, ADMIN: ALL},
    "GET /simulations": {MANAGER: TEAM, ACCOUNTANT: ALL, ADMIN: ALL},
    "GET /simulations/{simulation_id}": {MANAGER: TEAM, ACCOUNTANT: ALL, ADMIN: ALL},
    "GET /processes": staff(ALL),
    "GET /processes/{workflow_id}": staff(ALL),
    # Insights: a rep their own cases, a manager or support lead their team's; the funnel,
    # cycle times and objectives of a process are read by its people (crm.insights.views.READERS).
    "GET /insights/funnel": INSIGHTS,
    "GET /insights/cycle-times": INSIGHTS,
    "GET /insights/objectives": INSIGHTS,
    "GET /insights/approvals": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "GET /insights/forecast": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "GET /insights/sla": {AGENT: OWN, SUPPORT_LEAD: TEAM, ADMIN: ALL},
    "GET /insights/cash": ACCOUNTING,
    # Files: read as their object is (GET /files/{file_id} applies the object's READS rule);
    # attached by who works on it.
    "POST /quotes/{quote_id}/files": {REP: OWN, MANAGER: TEAM, ADMIN: ALL},
    "GET /quotes/{quote_id}/files": SALES_READ,
    "GET /quotes/{quote_id}/document": SALES_READ,
    "POST /projects/{project_id}/files": PROJECT_READ,
    "GET /projects/{project_id}/files": PROJECT_READ,
    "POST /projects/{project_id}/milestones/{milestone_id}/files": PROJECT_READ,
    "GET /projects/{project_id}/milestones/{milestone_id}/files": PROJECT_READ,
    "POST /invoices/{invoice_id}/files": ACCOUNTING,
    "GET /invoices/{invoice_id}/files": ACCOUNTING,
    "POST /tickets/{ticket_id}/files": FOR_THE_CUSTOMER,
    "GET /tickets/{ticket_id}/files": SUPPORT_READ,
    "GET /files/{file_id}": everyone(ALL),
}

READS: dict[str, str] = {
    "lead": "GET /leads/{lead_id}",
    "quote": "GET /quotes/{quote_id}",
    "project": "GET /projects/{project_id}",
    "invoice": "GET /invoices/{invoice_id}",
    "ticket": "GET /tickets/{ticket_id}",
}
"""For each process's object type, the rule its process is read by."""


@dataclass(frozen=True)
class Grant:
    """The caller's right under one rule: how far it reaches."""

    user: User
    rule: str
    scope: Scope

    def where(self, kind: type) -> Condition:
        """The rows of this kind the grant reaches, for a list's filter."""
        return scopes.within(kind, self.user, self.scope)

    async def check(self, session: AsyncSession, kind: type, object_id: int,
                    named: str) -> None:
        """403 unless the object (``named`` in the refusal: "lead 4") is within reach."""
        if not await scopes.holds(session=session, kind=kind, object_id=object_id,
                                  user=self.user, scope=self.scope):
            raise self.refusal(named)

    def refusal(self, named: str) -> Forbidden:
        whose = ("yours", "their own") if self.scope == OWN else ("your team's", "their team's")
        return Forbidden(f"{named} is not {whose[0]}: role {self.user.role} may "
                         f"{self.rule} on {whose[1]} only")


def granted(user: User, rule: str) -> Grant:
    """The user's grant under the rule, or 403 naming the rule and the roles it needs."""
    allowed = RULES.get(rule)
    if allowed is None:
        raise Forbidden(f"{rule} has no rule in api/access.py: nobody may call it")
    scope = allowed.get(Role(user.role))
    if scope is None:
        raise Forbidden(f"role {user.role} may not {rule}; it needs one of: "
                        f"{', '.join(role.value for role in allowed)}")
    return Grant(user, rule, scope)


async def grant(request: Request, user: CurrentUser) -> Grant:
    """The caller's grant under the rule of the route called. The app gives it to every
    router but /health's, so it runs before the route's own dependencies: who before what."""
    return granted(user, f"{request.method} {request.scope['route'].path}")


GrantDep = Annotated[Grant, Depends(grant)]
