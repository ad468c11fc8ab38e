"""The email outbox: one row per email purpose, so a message is sent once whatever retries.

A row goes ``pending`` → ``sending`` (an SMTP conversation under way) → ``sent``, or to
``failed`` when no retry can deliver it: the server refused it for good (a 5xx answer, such
as 550 unknown user) or the data cannot make an email. A failed row keeps the reason in
``last_error``, and the person who answers for the object the email is about gets a task.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from crm.models import Invoice, Lead, OutboxEmail, Project, Quote, Task, Ticket, User
from crm.models.base import utcnow
from crm.repo.people import active_users
from crm.repo.query import Rows, by_idempotency_key, rows, where_given
from crm.repo.tasks import create_task
from workflows.roles import Role

STATUSES = ("pending", "sending", "sent", "failed")
"""An outbox row's statuses; ``sent`` and ``failed`` are final."""
FINAL = ("sent", "failed")
UNDELIVERED_TASK = "email_failed"
"""The kind of the task an email that failed for good gives its object's owner."""


async def find(*, session: AsyncSession, idempotency_key: str) -> OutboxEmail | None:
    return await by_idempotency_key(session, OutboxEmail, idempotency_key)


async def reserve(*, session: AsyncSession, email: OutboxEmail) -> OutboxEmail:
    """Store the email under its key, or return the one already stored under that key."""
    try:
        async with session.begin_nested():
            session.add(email)
    except IntegrityError:
        existing = await find(session=session, idempotency_key=email.idempotency_key)
        assert existing is not None
        return existing
    return email


async def carry(*, session: AsyncSession, email_id: int, file_ids: list[int]) -> None:
    """The email carries these files (its document, rendered by its first attempt)."""
    email = await session.get(OutboxEmail, email_id)
    assert email is not None
    email.attachments = file_ids


async def mark_sent(*, session: AsyncSession, email_id: int) -> bool:
    """Record that the server accepted the email; False when that was recorded already."""
    email = await session.get(OutboxEmail, email_id)
    assert email is not None
    if email.status == "sent":
        return False
    email.status = "sent"
    email.sent_at = utcnow()
    email.last_error = None
    return True


async def mark_failed(
    *, session: AsyncSession, email_id: int, error: str, permanent: bool
) -> Task | None:
    """Record why an attempt failed. A transient failure leaves the row ``pending`` for the
    next attempt; a permanent one makes it ``failed`` and gives the owner of the email's
    object a task (once per email): the task, then."""
    email = await session.get(OutboxEmail, email_id)
    assert email is not None
    email.last_error = error[:2000]
    if not permanent:
        email.status = "pending"
        return None
    email.status = "failed"
    owner = await owner_of(session=session, related_type=email.related_type,
                           related_id=email.related_id)
    return await create_task(
        session=session,
        kind=UNDELIVERED_TASK,
        title=f"Email not delivered to {email.recipient}: {email.subject}"[:300],
        description=f"{email.subject!r} to {email.recipient} could not be delivered: "
                    f"{email.last_error}. Reach them another way, or correct the address.",
        assignee_id=owner,
        related_type=email.related_type,
        related_id=email.related_id,
        workflow_id=email.workflow_id,
        idempotency_key=f"{email.idempotency_key}:{UNDELIVERED_TASK}",
    )


async def owner_of(
    *, session: AsyncSession, related_type: str | None, related_id: int | None
) -> int | None:
    """Who answers for an email's object: the lead's rep, the quote's author, the project's
    manager, the invoice's accountant (who issued it, else the first accountant), the
    ticket's agent (else the first support lead); failing those, the first admin."""
    owner: int | None = None
    if related_id is not None:
        if related_type == "lead":
            owner = await session.scalar(select(Lead.owner_id).where(Lead.id == related_id))
        elif related_type == "quote":
            owner = await session.scalar(select(Quote.author_id).where(Quote.id == related_id))
        elif related_type == "project":
            owner = await session.scalar(
                select(Project.manager_id).where(Project.id == related_id))
        elif related_type == "invoice":
            owner = await session.scalar(
                select(Invoice.issued_by_id).join(User, User.id == Invoice.issued_by_id)
                .where(Invoice.id == related_id, User.active, User.role == Role.ACCOUNTANT))
            owner = owner or await _first(session, Role.ACCOUNTANT)
        elif related_type == "ticket":
            owner = await session.scalar(
                select(Ticket.assignee_id).where(Ticket.id == related_id))
            owner = owner or await _first(session, Role.SUPPORT_LEAD)
    return owner or await _first(session, Role.ADMIN)


async def _first(session: AsyncSession, role: Role) -> int | None:
    found = await active_users(session=session, roles=[role])
    return found[0].id if found else None


async def list_emails(
    *,
    session: AsyncSession,
    recipient: str | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
    purpose: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OutboxEmail]:
    query = where_given(select(OutboxEmail), {
        OutboxEmail.recipient: recipient, OutboxEmail.related_type: related_type,
        OutboxEmail.related_id: related_id, OutboxEmail.purpose: purpose,
        OutboxEmail.status: status,
    })
    query = query.order_by(OutboxEmail.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))


SHOWN = (OutboxEmail.id, OutboxEmail.recipient, OutboxEmail.subject, OutboxEmail.purpose,
         OutboxEmail.template, OutboxEmail.related_type, OutboxEmail.related_id,
         OutboxEmail.workflow_id, OutboxEmail.status, OutboxEmail.attempts,
         OutboxEmail.last_error, OutboxEmail.created_at, OutboxEmail.sent_at)
"""An email's columns as the API shows it."""
_ABOUT = (select(*SHOWN)
          .where(OutboxEmail.related_type == bindparam("related_type"),
                 OutboxEmail.related_id == bindparam("related_id"))
          .order_by(OutboxEmail.id.desc()).limit(100))


async def emails_shown(*, connection: AsyncConnection, related_type: str, related_id: int
                       ) -> Rows:
    """The emails about one object as ``list_emails`` finds them (the latest 100, newest
    first), as rows of ``SHOWN``."""
    return await rows(connection, _ABOUT, {"related_type": related_type,
                                           "related_id": related_id})
