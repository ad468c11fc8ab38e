"""Rows the tests start from, made with the same repository functions the API uses."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from crm import db
from crm.models import Lead, Quote, User
from crm.repo import leads, people, quotes
from workflows.roles import Role


@dataclass
class SalesTeam:
    rep: User
    other_rep: User
    manager: User
    other_manager: User
    foreign_manager: User
    """A manager of another team."""
    admin: User


async def sales_team(sessions: db.Sessions) -> SalesTeam:
    async with db.unit_of_work(sessions) as session:

        async def user(name: str, role: Role, team: str | None = "Sales") -> User:
            return await people.create_user(
                session=session, name=name, email=f"{name.lower()}@crm.example", role=role,
                team=team,
            )

        return SalesTeam(
            rep=await user("Alice", Role.SALES_REP),
            other_rep=await user("Bob", Role.SALES_REP),
            manager=await user("Maria", Role.SALES_MANAGER),
            other_manager=await user("Marc", Role.SALES_MANAGER),
            foreign_manager=await user("Nora", Role.SALES_MANAGER, team="Nordics"),
            admin=await user("Ada", Role.ADMIN, team=None),
        )


async def lead(sessions: db.Sessions, **fields: object) -> Lead:
    """A new lead: Jane Buyer of Acme; Jane2, Jane3… when Jane is already followed (one
    active lead per email)."""
    async with db.unit_of_work(sessions) as session:
        if "email" not in fields:
            taken = await session.scalar(select(func.count(Lead.id)))
            fields["email"] = f"jane{taken + 1 if taken else ''}@acme.example"
        values: dict[str, object] = {"name": "Jane Buyer", "company": "Acme", **fields}
        return await leads.create_lead(session=session, **values)


async def qualified_lead(sessions: db.Sessions, owner: User, **fields: object) -> Lead:
    row = await lead(sessions, team_id=owner.team_id, owner_id=owner.id, **fields)
    async with db.unit_of_work(sessions) as session:
        await leads.open_opportunity(session=session, lead_id=row.id, owner_id=owner.id,
                                     need="a CRM", budget=Decimal("10000"))
        row = await leads.get_lead(session=session, lead_id=row.id)
        row.status = "qualified"
    return row


async def quote(
    sessions: db.Sessions, lead_row: Lead, author: User, discount_pct: str = "10"
) -> Quote:
    async with db.unit_of_work(sessions) as session:
        return await quotes.create_quote(
            session=session,
            lead_id=lead_row.id,
            account_id=lead_row.account_id,
            contact_id=lead_row.contact_id,
            author=author,
            lines=[quotes.LineInput("CRM licence", Decimal("10"), Decimal("100.00"))],
            discount_pct=Decimal(discount_pct),
            currency="EUR",
        )


async def tokens(sessions: db.Sessions, team: SalesTeam) -> dict[str, str]:
    """An API token for each member of the team, and for the website (integration)."""
    async with db.unit_of_work(sessions) as session:
        website = await people.create_user(session=session, name="Website",
                                           email="website@crm.example", role=Role.INTEGRATION)
        accountant = await people.create_user(session=session, name="Carl",
                                              email="carl@crm.example", role=Role.ACCOUNTANT)
        members = {
            "rep": team.rep, "other_rep": team.other_rep, "manager": team.manager,
            "other_manager": team.other_manager, "foreign_manager": team.foreign_manager,
            "admin": team.admin, "website": website, "accountant": accountant,
        }
        return {who: await people.issue_token(session=session, user=user)
                for who, user in members.items()}


@dataclass
class SupportTeam:
    agent: User
    """Sam: billing and general tickets."""
    other_agent: User
    """Tia: technical and general tickets."""
    lead: User


async def support_team(sessions: db.Sessions) -> SupportTeam:
    """Two support agents with their skills, and their team lead."""
    async with db.unit_of_work(sessions) as session:

        async def user(name: str, role: Role, skills: list[str]) -> User:
            return await people.create_user(
                session=session, name=name, email=f"{name.lower()}@crm.example", role=role,
                team="Support", skills=skills,
            )

        return SupportTeam(
            agent=await user("Sam", Role.SUPPORT_AGENT, ["billing", "general"]),
            other_agent=await user("Tia", Role.SUPPORT_AGENT, ["technical", "general"]),
            lead=await user("Lea", Role.SUPPORT_LEAD, []),
        )


async def customer(
    sessions: db.Sessions, name: str = "Acme", billing_email: str = "billing@acme.example"
) -> int:
    """An account to invoice, with its billing address: its id."""
    from crm.models import Account

    async with db.unit_of_work(sessions) as session:
        account = Account(name=name, billing_email=billing_email)
        session.add(account)
        await session.flush()
        return account.id


async def accountant(sessions: db.Sessions, name: str = "Petra") -> User:
    async with db.unit_of_work(sessions) as session:
        return await people.create_user(session=session, name=name,
                                        email=f"{name.lower()}@crm.example",
                                        role=Role.ACCOUNTANT)


async def sale(
    sessions: db.Sessions, team: SalesTeam, *, amount: str = "10000.00",
    product_line: str | None = None, invoicing: str | None = None,
) -> int:
    """A won quote of Alice's for Acme (contact Jane), and its sale (10 000 EUR by default):
    the sale's id."""
    lead_row = await qualified_lead(sessions, team.rep)
    quote_row = await quote(sessions, lead_row, team.rep, discount_pct="0")
    async with db.unit_of_work(sessions) as session:
        row = await quotes.create_sale(session=session, quote_id=quote_row.id)
        row.amount, row.product_line, row.invoicing_policy = (
            Decimal(amount), product_line, invoicing)
        return row.id
