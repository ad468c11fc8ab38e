"""Starting a sale's project: set up from its template, recorded with its process, started
(commit, then start), once per sale.

The quote's process (``START_PROJECT``, when a quote is won) and ``POST /sales/{id}/project``
both go through :func:`start_project`. The sale's row is locked while its project is set up,
so two starters take turns and the second finds the project made: a retry or a crash never
makes two projects. A project whose process did not start (Temporal down) is started by the
next call, or by ``crmflow processes repair``.

People are chosen here, once: the sale's rep is the account owner; the project manager is
the sales manager of the sale's team managing the fewest open projects (else any sales
manager, else an admin); each role the template names is filled by a user of its CRM role,
the sale's team first, someone not yet on the project; a role nobody can fill falls to the
project manager.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import cast, get_args

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from crm import launcher
from crm.errors import MissingInformation, NotFound
from crm.models import (
    Account,
    Contact,
    Milestone,
    ProcessStart,
    Project,
    ProjectMember,
    Quote,
    Sale,
    User,
)
from crm.models.base import utcnow
from crm.policies import Policies
from crm.project_templates import ProjectTemplate
from crm.repo import people
from crm.repo.projects import OPEN, template_for
from crm.settings import Settings
from workflows.contracts import Person
from workflows.dunning_ladder import cents
from workflows.project_types import (
    ACCOUNT_OWNER,
    PROJECT_MANAGER,
    Instalment,
    Invoicing,
    Participant,
    PlannedMilestone,
    PlannedTask,
    SaleToProjectInput,
)
from workflows.registry import SALE_TO_PROJECT
from workflows.roles import Role


async def start_project(
    session: AsyncSession, client: Client, settings: Settings, policies: Policies,
    sale_id: int, *, before_commit: Callable[[Project, bool], Awaitable[None]] | None = None,
) -> tuple[Project, bool]:
    """The sale's project, set up and its process started, once per sale; whether it was
    made now. ``before_commit(project, made)`` runs in the transaction (to keep an answer).
    Commits. Temporal unavailable → ServiceUnavailable, the start left pending."""
    project, start = await record_project(session=session, sale_id=sale_id, policies=policies)
    if before_commit is not None:
        await before_commit(project, start is not None)
    await session.commit()
    if start is not None:
        await launcher.launch(session, client, settings, start, fresh=True)
    else:
        await launcher.resume(session, client, settings, SALE_TO_PROJECT.workflow_id(sale_id))
    return project, start is not None


async def record_project(
    *, session: AsyncSession, sale_id: int, policies: Policies
) -> tuple[Project, ProcessStart | None]:
    """The project set up from the sale's template, with its process recorded to start (the
    caller commits, then launches); the existing project and None if the sale has one."""
    sale = await session.get(Sale, sale_id, with_for_update=True, populate_existing=True)
    if sale is None:
        raise NotFound("sale", sale_id)
    existing = await session.scalar(select(Project).where(Project.sale_id == sale.id))
    if existing is not None:
        return existing, None
    account = await session.get(Account, sale.account_id) if sale.account_id else None
    if account is None:
        raise MissingInformation(f"sale {sale.id} has no customer account", ["account"])
    contact = await _contact(session, sale)
    policy = policies.project
    template = await template_for(session=session, product_line=sale.product_line,
                                  default=policy.default_template)
    team = await _team(session, sale, template)
    by_role = dict(team)
    manager = by_role[PROJECT_MANAGER]
    invoicing = cast(Invoicing, sale.invoicing_policy if sale.invoicing_policy in
                     get_args(Invoicing) else policy.invoicing)
    project = Project(sale_id=sale.id, account_id=account.id, name=f"{account.name}: "
                      f"{template.name}", manager_id=manager.id, status="planned",
                      invoicing_policy=invoicing, template=template.name,
                      hourly_cost=template.hourly_cost)
    session.add(project)
    await session.flush()
    roles: dict[int, str] = {}
    for role, user in team:
        roles.setdefault(user.id, role)  # one row each: a manager who also fills a role
    session.add_all(ProjectMember(project_id=project.id, user_id=user_id, role=role)
                    for user_id, role in roles.items())
    planned = await _milestones(session, project, template, by_role, sale.amount)

    data = SaleToProjectInput(
        sale_id=sale.id, project_id=project.id, name=project.name, customer=account.name,
        account_id=account.id, contact=Person(0, contact.name, contact.email),
        currency=sale.currency, amount=sale.amount, template=template.name,
        invoicing=invoicing,
        participants=[Participant(role, _person(user)) for role, user in team],
        milestones=planned,
        tasks=[PlannedTask(task.title, task.role, _person(by_role[task.role]),
                           timedelta(days=task.due_after_days)) for task in template.tasks],
        schedule=_schedule(template, planned, sale.amount) if invoicing == "schedule" else [],
        policy=policy,
    )
    return project, await launcher.record_start(session, SALE_TO_PROJECT, sale.id, data)


async def _team(session: AsyncSession, sale: Sale, template: ProjectTemplate
                ) -> list[tuple[str, User]]:
    """Who fills each role: the manager, the sale's rep, then the template's roles."""
    manager = await _manager(session, sale)
    rep = await people.get_user(session=session, user_id=sale.owner_id)
    team = [(PROJECT_MANAGER, manager), (ACCOUNT_OWNER, rep)]
    for member in template.members:
        chosen = await _member(session, Role(member.crm_role), sale.team_id,
                               {user.id for _, user in team})
        team.append((member.role, chosen or manager))
    return team


async def _milestones(session: AsyncSession, project: Project, template: ProjectTemplate,
                      by_role: dict[str, User], amount: Decimal) -> list[PlannedMilestone]:
    """The template's milestones as rows of the project, due from today, with their shares."""
    today = utcnow().date()
    planned = [PlannedMilestone(0, plan.name, today + timedelta(days=plan.due_after_days),
                                _person(by_role[plan.owner_role]), share)
               for plan, share in zip(template.milestones, shares(
                   amount, [m.billable_pct for m in template.milestones]), strict=True)]
    rows = [Milestone(project_id=project.id, position=n, name=m.name, owner_id=m.owner.user_id,
                      billable_pct=plan.billable_pct, due_on=m.due_on, amount=m.amount)
            for n, (m, plan) in enumerate(zip(planned, template.milestones, strict=True),
                                          start=1)]
    session.add_all(rows)
    await session.flush()
    for milestone, row in zip(planned, rows, strict=True):
        milestone.milestone_id = row.id
    return planned


def shares(amount: Decimal, percentages: list[Decimal]) -> list[Decimal]:
    """The amount split by percentages (adding up to 100), in cents; the last share takes
    what rounding left."""
    split = [cents(amount * pct / 100) for pct in percentages]
    last = max((n for n, pct in enumerate(percentages) if pct), default=None)
    if last is not None:
        split[last] += amount - sum(split)
    return split


def _schedule(template: ProjectTemplate, milestones: list[PlannedMilestone], amount: Decimal
              ) -> list[Instalment]:
    """The template's instalments, or else the billable milestones' shares on their dates."""
    today = utcnow().date()
    if template.schedule:
        amounts = shares(amount, [i.share_pct for i in template.schedule])
        return [Instalment(n, plan.label, today + timedelta(days=plan.invoice_after_days), share)
                for n, (plan, share) in enumerate(zip(template.schedule, amounts, strict=True),
                                                  start=1)]
    billable = [m for m in milestones if m.amount]
    return [Instalment(n, m.name, m.due_on, m.amount) for n, m in enumerate(billable, start=1)]


async def _contact(session: AsyncSession, sale: Sale) -> Contact:
    """The customer's contact on the won quote, else the account's first."""
    quote = await session.get(Quote, sale.quote_id)
    contact = await session.get(Contact, quote.contact_id) if quote and quote.contact_id else None
    contact = contact or await session.scalar(
        select(Contact).where(Contact.account_id == sale.account_id).order_by(Contact.id))
    if contact is None:
        raise MissingInformation(f"sale {sale.id}'s customer has no contact to kick the "
                                 f"project off with", ["contact"])
    return contact


async def _manager(session: AsyncSession, sale: Sale) -> User:
    load: dict[int | None, int] = {manager: count for manager, count in await session.execute(
        select(Project.manager_id, func.count(Project.id))
        .where(Project.status.in_(OPEN)).group_by(Project.manager_id))}
    for roles, team_id in (([Role.SALES_MANAGER], sale.team_id), ([Role.SALES_MANAGER], None),
                           ([Role.ADMIN], None)):
        candidates = await people.active_users(session=session, roles=roles, team_id=team_id)
        if candidates:
            return min(candidates, key=lambda user: (load.get(user.id, 0), user.id))
    raise MissingInformation("no sales manager or admin can manage the project",
                             ["project manager"])


async def _member(session: AsyncSession, role: Role, team_id: int | None, taken: set[int]
                  ) -> User | None:
    for team in ((team_id, None) if team_id is not None else (None,)):
        found = [user for user in await people.active_users(session=session, roles=[role],
                                                            team_id=team)
                 if user.id not in taken]
        if found:
            return found[0]
    return None


def _person(user: User) -> Person:
    return Person(user.id, user.name, user.email)
