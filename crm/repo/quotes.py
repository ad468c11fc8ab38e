"""Quotes, their lines and totals, the approvals waiting for a manager, and sales."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import NotFound
from crm.models import Quote, QuoteLine, Sale, User
from crm.repo.query import where_given

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


async def list_quotes(
    *,
    session: AsyncSession,
    status: str | None = None,
    lead_id: int | None = None,
    author_id: int | None = None,
    within: ColumnElement[bool] = true(),
    limit: int = 50,
    offset: int = 0,
) -> list[Quote]:
    """Newest first; ``within``: only these (a caller's scope, ``crm.repo.scopes``)."""
    query = where_given(select(Quote).where(within), {
        Quote.status: status, Quote.lead_id: lead_id, Quote.author_id: author_id
    })
    return list(await session.scalars(query.order_by(Quote.id.desc()).limit(limit).offset(offset)))


async def awaiting_decision_of(
    *, session: AsyncSession, user: User, within: ColumnElement[bool] = true(),
) -> list[Quote]:
    """Quotes waiting for this user's decision, oldest first: pending or escalated, not
    their own, ``within`` their reach (a manager's team's, an admin's all)."""
    return list(await session.scalars(select(Quote).where(
        Quote.author_id != user.id, Quote.status.in_(AWAITING_DECISION), within,
    ).order_by(Quote.id)))


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
