"""The email outbox: one row per email purpose, so a message is sent once whatever retries."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import OutboxEmail
from crm.models.base import utcnow
from crm.repo.query import by_idempotency_key, where_given


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
) -> None:
    email = await session.get(OutboxEmail, email_id)
    assert email is not None
    email.status = "refused" if permanent else "pending"
    email.last_error = error[:2000]


async def list_emails(
    *,
    session: AsyncSession,
    recipient: str | None = None,
    related_type: str | None = None,
    related_id: int | None = None,
    purpose: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[OutboxEmail]:
    query = where_given(select(OutboxEmail), {
        OutboxEmail.recipient: recipient, OutboxEmail.related_type: related_type,
        OutboxEmail.related_id: related_id, OutboxEmail.purpose: purpose,
    })
    query = query.order_by(OutboxEmail.id.desc()).limit(limit).offset(offset)
    return list(await session.scalars(query))
