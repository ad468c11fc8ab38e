"""Answers kept under an ``Idempotency-Key``, per user."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import IdempotentRequest


async def find(*, session: AsyncSession, user_id: int, key: str) -> IdempotentRequest | None:
    return await session.scalar(
        select(IdempotentRequest).where(IdempotentRequest.user_id == user_id,
                                        IdempotentRequest.key == key))


async def keep(
    *, session: AsyncSession, user_id: int, key: str, fingerprint: str, status_code: int,
    response: str, workflow_id: str | None = None,
) -> IdempotentRequest:
    """Keep the answer; flushed now, so a concurrent request with the same key waits for this
    transaction and then fails on the unique constraint (PostgreSQL), or finds it (SQLite)."""
    row = IdempotentRequest(user_id=user_id, key=key, fingerprint=fingerprint,
                            status_code=status_code, response=response, workflow_id=workflow_id)
    session.add(row)
    await session.flush()
    return row
