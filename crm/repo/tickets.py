"""Tickets, their messages, the queues support works from, and routing to an agent."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.errors import NotFound
from crm.models import OutboxEmail, Ticket, TicketMessage, User, UserSkill
from crm.models.base import utcnow
from crm.models.support import OPEN_TICKET_STATUSES
from crm.repo import scopes
from crm.repo.query import where_given
from crm.repo.scopes import Scope
from workflows.roles import Role

Queue = Literal["mine", "team", "unassigned", "breaching", "all"]


async def create_ticket(*, session: AsyncSession, **fields: object) -> Ticket:
    """A new ticket row (``crm.support.record_ticket`` opens one with its process)."""
    ticket = Ticket(**fields)
    ticket.opened_priority = ticket.opened_priority or ticket.priority or "normal"
    session.add(ticket)
    await session.flush()
    return ticket


async def get_ticket(*, session: AsyncSession, ticket_id: int) -> Ticket:
    """The ticket, or NotFound."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound("ticket", ticket_id)
    return ticket


async def add_message(
    *,
    session: AsyncSession,
    ticket_id: int,
    author: str,
    body: str,
    author_user_id: int | None = None,
    message_id: str | None = None,
    idempotency_key: str | None = None,
) -> TicketMessage:
    """A message on the ticket; the one already kept under its key or Message-ID, if any."""
    existing = await _message_by(session, message_id, idempotency_key)
    if existing is not None:
        return existing
    message = TicketMessage(ticket_id=ticket_id, author=author, body=body,
                            author_user_id=author_user_id, message_id=message_id,
                            idempotency_key=idempotency_key)
    try:
        async with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same email, recorded concurrently
        found = await _message_by(session, message_id, idempotency_key)
        assert found is not None
        return found
    return message


async def _message_by(
    session: AsyncSession, message_id: str | None, idempotency_key: str | None
) -> TicketMessage | None:
    keys = [column == value for column, value in (
        (TicketMessage.message_id, message_id),
        (TicketMessage.idempotency_key, idempotency_key)) if value is not None]
    if not keys:
        return None
    return await session.scalar(select(TicketMessage).where(or_(*keys)))


async def messages_of(*, session: AsyncSession, ticket_id: int) -> list[TicketMessage]:
    """The ticket's messages, oldest first."""
    return list(await session.scalars(
        select(TicketMessage).where(TicketMessage.ticket_id == ticket_id)
        .order_by(TicketMessage.id)))


async def ticket_of_emails(
    *, session: AsyncSession, message_ids: Sequence[str], sent_too: bool = True
) -> int | None:
    """The ticket one of these Message-IDs belongs to: a message on it, or (``sent_too``)
    an email it sent."""
    if not message_ids:
        return None
    found = await session.scalar(select(TicketMessage.ticket_id).where(
        TicketMessage.message_id.in_(message_ids)).order_by(TicketMessage.id.desc()).limit(1))
    if found is not None or not sent_too:
        return None if found is None else int(found)
    sent = await session.scalar(select(OutboxEmail.related_id).where(
        OutboxEmail.related_type == "ticket", OutboxEmail.message_id.in_(message_ids))
        .order_by(OutboxEmail.id.desc()).limit(1))
    return int(sent) if sent is not None else None


async def open_dispute_of(*, session: AsyncSession, invoice_id: int) -> Ticket | None:
    """The billing ticket still open about this invoice, if any."""
    return await session.scalar(select(Ticket).where(
        Ticket.invoice_id == invoice_id, Ticket.status.in_(OPEN_TICKET_STATUSES)))


async def list_tickets(
    *,
    session: AsyncSession,
    user: User,
    within: ColumnElement[bool] = true(),
    queue: Queue = "all",
    status: str | None = None,
    category: str | None = None,
    breaching_within: timedelta = timedelta(hours=4),
    limit: int = 50,
    offset: int = 0,
) -> list[Ticket]:
    """A queue as support works it, ``within`` what the user may read: mine, my team's
    (with the unassigned, ``crm.repo.scopes``), unassigned, those whose running SLA target
    falls due within ``breaching_within`` (soonest first), or all."""
    query = where_given(select(Ticket).where(within),
                        {Ticket.status: status, Ticket.category: category})
    open_ = Ticket.status.in_(OPEN_TICKET_STATUSES)
    if queue == "mine":
        query = query.where(Ticket.assignee_id == user.id, open_)
    elif queue == "team":
        query = query.where(open_, scopes.within(Ticket, user, Scope.TEAM))
    elif queue == "unassigned":
        query = query.where(open_, Ticket.assignee_id.is_(None))
    elif queue == "breaching":
        horizon: datetime = utcnow() + breaching_within
        first_due = Ticket.first_responded_at.is_(None) & (Ticket.first_response_due <= horizon)
        query = query.where(open_, or_(first_due, Ticket.resolution_due <= horizon))
        due = func.coalesce(Ticket.first_response_due, Ticket.resolution_due)
        return list(await session.scalars(query.order_by(due, Ticket.id).limit(limit)
                                          .offset(offset)))
    return list(await session.scalars(
        query.order_by(Ticket.id.desc()).limit(limit).offset(offset)))


async def assign_agent(
    *, session: AsyncSession, ticket_id: int, category: str, capacity: int
) -> User | None:
    """Give the ticket to the best-suited available agent, in one transaction: an active
    support agent with the category as a skill and fewer than ``capacity`` open tickets, the
    least loaded first (then by id). None when nobody fits: the ticket goes to the team queue.

    Atomic: the candidates' rows are locked (in id order, so two routings never deadlock)
    before their loads are counted, so tickets routed at the same moment by two workers
    count each other and never push an agent past ``capacity`` (on SQLite the write lock,
    taken up front, does the same). A ticket already assigned keeps its agent: a retried
    assignment changes nothing."""
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id)
                                  .with_for_update())
    if ticket is None:
        raise NotFound("ticket", ticket_id)
    if ticket.assignee_id is not None:
        return await session.get(User, ticket.assignee_id)
    skilled = list(await session.scalars(
        select(User).join(UserSkill, UserSkill.user_id == User.id)
        .where(User.active, User.role == Role.SUPPORT_AGENT.value, UserSkill.skill == category)
        .order_by(User.id).with_for_update(of=User)))
    if not skilled:
        return None
    counted = await session.execute(
        select(Ticket.assignee_id, func.count(Ticket.id))
        .where(Ticket.assignee_id.in_([a.id for a in skilled]),
               Ticket.status.in_(OPEN_TICKET_STATUSES))
        .group_by(Ticket.assignee_id))
    loads: dict[int | None, int] = {user_id: count for user_id, count in counted.all()}
    available = [a for a in skilled if loads.get(a.id, 0) < capacity]
    agent = min(available, key=lambda a: (loads.get(a.id, 0), a.id), default=None)
    if agent is not None:
        ticket.assignee_id = agent.id
        await session.flush()
    return agent
