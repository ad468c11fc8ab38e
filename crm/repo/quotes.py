"""Quotes, their lines and totals, the approvals waiting for a manager, and sales."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Integer, Row, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.errors import NotFound
from crm.models import Account, Quote, QuoteLine, Sale, User
from crm.repo import scopes
from crm.repo.query import LIMIT, OFFSET, Columns, Rows, given, rows, where_named
from crm.repo.scopes import Scope

CENT = Decimal("0.01")
EDITABLE = ("draft", "rejected")
AWAITING_DECISION = ("pending_approval", "escalated")


@dataclass
class LineInput:
    description: str
    quantity: Decimal
    unit_price: Decimal


@dataclass
class Totals:
    subtotal: Decimal
    discount: Decimal
    total: Decimal


def totals(quote: Quote) -> Totals:
    return discounted(sum((line.quantity * line.unit_price for line in quote.lines),
                          Decimal(0)), quote.discount_pct)


def discounted(lines_total: Decimal, discount_pct: Decimal) -> Totals:
    """The totals of lines adding up to ``lines_total``: rounded to the cent, then the
    discount (itself rounded) taken off."""
    subtotal = lines_total.quantize(CENT, ROUND_HALF_UP)
    discount = (subtotal * discount_pct / 100).quantize(CENT, ROUND_HALF_UP)
    return Totals(subtotal, discount, subtotal - discount)


def replace_lines(quote: Quote, lines: list[LineInput]) -> None:
    quote.lines = [
        QuoteLine(position=n, description=line.description, quantity=line.quantity,
                  unit_price=line.unit_price)
        for n, line in enumerate(lines, start=1)
    ]


def missing_to_submit(quote: Quote) -> list[str]:
    """The transition gate: what a quote lacks before it can be submitted."""
    missing = []
    if quote.contact_id is None:
        missing.append("contact")
    if not any(line.quantity > 0 and line.unit_price > 0 for line in quote.lines):
        missing.append("a priced line")
    return missing


async def create_quote(
    *,
    session: AsyncSession,
    lead_id: int,
    account_id: int | None,
    contact_id: int | None,
    author: User,
    lines: list[LineInput],
    discount_pct: Decimal,
    currency: str,
) -> Quote:
    quote = Quote(
        lead_id=lead_id,
        account_id=account_id,
        contact_id=contact_id,
        author_id=author.id,
        team_id=author.team_id,
        discount_pct=discount_pct,
        currency=currency,
        lines=[],
    )
    replace_lines(quote, lines)
    session.add(quote)
    await session.flush()
    return quote


async def get_quote(*, session: AsyncSession, quote_id: int) -> Quote:
    quote = await session.get(Quote, quote_id)
    if quote is None:
        raise NotFound("quote", quote_id)
    return quote


SHOWN = (Quote.id, Quote.lead_id, Quote.account_id, Quote.contact_id, Quote.author_id,
         User.name.label("author_name"), Account.name.label("customer"), Quote.team_id,
         Quote.status, Quote.discount_pct, Quote.currency, Quote.submission,
         Quote.valid_until, Quote.decided_by_id, Quote.decision_comment)
"""A quote's columns as the API shows it: its author's name, its account's (the customer)."""
_SHOWN = (select(*SHOWN).select_from(Quote)
          .outerjoin(User, User.id == Quote.author_id)
          .outerjoin(Account, Account.id == Quote.account_id))
_LINES = (select(QuoteLine.quote_id, QuoteLine.position, QuoteLine.description,
                 QuoteLine.quantity, QuoteLine.unit_price)
          .where(QuoteLine.quote_id.in_(bindparam("quote_ids", expanding=True)))
          .order_by(QuoteLine.position))


@functools.cache
def _page(scope: Scope, has_team: bool, filters: tuple[str, ...]) -> Columns:
    """The statement of a page of quotes filtered by these columns: built once for each."""
    within = scopes.within_any(Quote, scope, has_team)
    return (where_named(_SHOWN.where(within), Quote, filters)
            .order_by(Quote.id.desc()).limit(LIMIT).offset(OFFSET))


@functools.cache
def _one(scope: Scope, has_team: bool) -> Columns:
    return _SHOWN.where(Quote.id == bindparam("quote_id"),
                        scopes.within_any(Quote, scope, has_team))


@functools.cache
def _awaiting(scope: Scope, has_team: bool) -> Columns:
    return _SHOWN.where(Quote.author_id != bindparam("scope_user_id", type_=Integer),
                        Quote.status.in_(AWAITING_DECISION),
                        scopes.within_any(Quote, scope, has_team)).order_by(Quote.id)


async def shown_quotes(
    *,
    connection: AsyncConnection,
    user: User,
    scope: Scope,
    status: str | None = None,
    lead_id: int | None = None,
    author_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Rows:
    """Rows of ``SHOWN``: newest first, within the user's scope."""
    filters = given({"status": status, "lead_id": lead_id, "author_id": author_id})
    statement = _page(scope, user.team_id is not None, tuple(filters))
    return await rows(connection, statement, {**filters, **scopes.parameters(user),
                                              "limit": limit, "offset": offset})


async def shown_quote(*, connection: AsyncConnection, quote_id: int, user: User | None = None,
                      scope: Scope = Scope.ALL) -> Row[Any] | None:
    """The quote's row of ``SHOWN`` if it is within the user's scope (without a user: any)."""
    has_team = user is not None and user.team_id is not None
    parameters = scopes.parameters(user) if user is not None else {}
    found = await rows(connection, _one(scope, has_team), {"quote_id": quote_id, **parameters})
    return found[0] if found else None


async def shown_awaiting_decision(*, connection: AsyncConnection, user: User, scope: Scope
                                  ) -> Rows:
    """Quotes waiting for this user's decision, oldest first, as rows of ``SHOWN``: pending
    or escalated, not their own, within their scope (a manager's team's, an admin's all)."""
    return await rows(connection, _awaiting(scope, user.team_id is not None),
                      scopes.parameters(user))


async def lines_shown(*, connection: AsyncConnection, quote_ids: list[int]
                      ) -> dict[int, list[Row[Any]]]:
    """The lines of these quotes, in order, by quote (a quote without lines is not a key)."""
    found: dict[int, list[Row[Any]]] = defaultdict(list)
    if quote_ids:
        for line in await rows(connection, _LINES, {"quote_ids": quote_ids}):
            found[line.quote_id].append(line)
    return found


async def create_sale(*, session: AsyncSession, quote_id: int) -> Sale:
    """The sale of a won quote; the same quote never makes two sales."""
    existing = await session.scalar(select(Sale).where(Sale.quote_id == quote_id))
    if existing is not None:
        return existing
    quote = await get_quote(session=session, quote_id=quote_id)
    sale = Sale(
        quote_id=quote.id,
        lead_id=quote.lead_id,
        account_id=quote.account_id,
        owner_id=quote.author_id,
        team_id=quote.team_id,
        amount=totals(quote).total,
        currency=quote.currency,
    )
    session.add(sale)
    await session.flush()
    return sale
