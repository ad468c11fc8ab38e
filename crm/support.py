"""Opening support tickets: the row, its first message and its process (commit, then start).

The API (``POST /tickets``, ``POST /inbound/email``) and the activity a dunning process uses
to open a billing ticket about a disputed invoice all go through ``record_ticket``; the
workflow's calendar gets its holiday dates here, from the ``holidays`` package, so the
workflow itself stays free of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import holidays
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from crm import launcher
from crm.errors import Conflict, NotFound
from crm.models import Account, Contact, Invoice, ProcessStart, Ticket, TicketMessage
from crm.models.base import utcnow
from crm.policies import Policies, PolicyStore
from crm.repo import tickets
from crm.settings import Settings
from workflows.business_time import Calendar
from workflows.registry import SUPPORT_TICKET
from workflows.support_types import WEEKDAYS, Customer, SupportCalendar, SupportTicketInput


def calendar_for(policy: SupportCalendar, opened: date) -> Calendar:
    """The calendar a ticket opened on ``opened`` counts in: the policy's days and hours,
    with the public holidays of that year and the next, and the extra days."""
    days = set(policy.extra_days)
    if policy.holiday_country:
        days |= set(holidays.country_holidays(policy.holiday_country,
                                              years=[opened.year, opened.year + 1]))
    return Calendar(policy.time_zone, [WEEKDAYS.index(d) for d in policy.days],
                    policy.opens, policy.closes, sorted(days))


@dataclass
class NewTicket:
    """What a customer action, an agent or an invoice dispute opens a ticket with."""

    contact_email: str
    subject: str
    body: str
    channel: str = "web"
    category: str = "general"
    priority: str = "normal"
    contact_name: str | None = None
    account_id: int | None = None
    invoice_id: int | None = None
    message_id: str | None = None
    """The Message-ID of the email that opens it."""
    by_user_id: int | None = None


async def record_ticket(
    session: AsyncSession, settings: Settings, policies: Policies, new: NewTicket
) -> tuple[Ticket, ProcessStart]:
    """The ticket, its first message, and its process recorded to start: the caller commits,
    then launches (``crm.launcher.launch``). An email already taken (its Message-ID) raises
    ``IntegrityError``."""
    email = new.contact_email.strip().lower()
    contact = await session.scalar(select(Contact).where(func.lower(Contact.email) == email)
                                   .order_by(Contact.id).limit(1))
    account_id = new.account_id or (contact.account_id if contact else None)
    account = await session.get(Account, account_id) if account_id else None
    name = new.contact_name or (contact.name if contact else email.split("@")[0])
    ticket = await tickets.create_ticket(
        session=session, account_id=account_id, contact_id=contact.id if contact else None,
        requester_email=email, requester_name=name, subject=new.subject,
        category=new.category, priority=new.priority, channel=new.channel,
        invoice_id=new.invoice_id, opened_by_id=new.by_user_id)
    # Added as is: an email already taken under its Message-ID is an IntegrityError here.
    session.add(TicketMessage(ticket_id=ticket.id, author="customer", body=new.body,
                              message_id=new.message_id))
    await session.flush()
    policy = policies.support
    data = SupportTicketInput(
        ticket_id=ticket.id, subject=ticket.subject, category=ticket.category,
        priority=ticket.priority, channel=ticket.channel,
        customer=Customer(email, name, account_id, account.owner_id if account else None),
        calendar=calendar_for(policy.calendar, utcnow().date()), policy=policy,
        first_message_id=new.message_id, invoice_id=new.invoice_id,
        support_address=settings.support_address,
    )
    return ticket, await launcher.record_start(session, SUPPORT_TICKET, ticket.id, data)


async def open_billing_ticket(
    session: AsyncSession, client: Client, settings: Settings, invoice_id: int,
    account_id: int, reason: str, by_user_id: int | None,
) -> Ticket:
    """Open the billing ticket about a disputed invoice and start its process: once per
    dispute (while it is open, the same dispute finds the same ticket). Commits."""
    existing = await tickets.open_dispute_of(session=session, invoice_id=invoice_id)
    if existing is None:
        invoice = await session.get(Invoice, invoice_id)
        if invoice is None:
            raise NotFound("invoice", invoice_id)
        new = NewTicket(await _billing_email(session, account_id),
                        f"Dispute about invoice {invoice.number}", reason, channel="invoice",
                        category="billing", priority="high", account_id=account_id,
                        invoice_id=invoice_id, by_user_id=by_user_id)
        policies = PolicyStore(settings.policy_file).current()
        try:
            async with session.begin_nested():
                ticket, start = await record_ticket(session, settings, policies, new)
        except IntegrityError:  # the same dispute, opened concurrently
            existing = await tickets.open_dispute_of(session=session, invoice_id=invoice_id)
            assert existing is not None
        else:
            await session.commit()
            await launcher.launch(session, client, settings, start, fresh=True)
            return ticket
    await session.commit()
    await launcher.resume(session, client, settings, SUPPORT_TICKET.workflow_id(existing.id))
    return existing


async def _billing_email(session: AsyncSession, account_id: int) -> str:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound("account", account_id)
    if account.billing_email:
        return account.billing_email
    contact = await session.scalar(select(Contact.email).where(Contact.account_id == account_id)
                                   .order_by(Contact.id).limit(1))
    if contact is None:
        raise Conflict(f"account {account_id} has no email to answer a dispute at")
    return contact
