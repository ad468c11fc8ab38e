"""Signed requests from outside systems (the website, the mail system, the payment provider).

With ``CRMFLOW_INTEGRATION_SECRET`` set, every request of an ``integration`` user carries

    X-Crmflow-Timestamp: <unix seconds>
    X-Crmflow-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<METHOD>.<path?query>." + body>

A missing or wrong signature (a tampered event), a timestamp further than
``signature_tolerance_seconds`` from now, or a signature already seen (a replayed event) is
refused with 401 before anything is done.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from datetime import timedelta

from fastapi import HTTPException, Request
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import SeenSignature
from crm.models.base import utcnow
from crm.settings import Settings

TIMESTAMP = "X-Crmflow-Timestamp"
SIGNATURE = "X-Crmflow-Signature"


def sign(secret: str, timestamp: int, method: str, target: str, body: bytes) -> str:
    """The signature header's value for a request (what the outside system computes)."""
    message = f"{timestamp}.{method.upper()}.{target}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


async def verify(request: Request, settings: Settings, session: AsyncSession) -> None:
    """Refuse (401) an unsigned, tampered, stale or replayed request."""
    assert settings.integration_secret is not None
    stamp = request.headers.get(TIMESTAMP, "")
    given = request.headers.get(SIGNATURE, "")
    if not stamp.isdigit() or not given:
        raise HTTPException(401, f"sign the request: {TIMESTAMP} and {SIGNATURE} headers")
    tolerance = settings.signature_tolerance_seconds
    if abs(time.time() - int(stamp)) > tolerance:
        raise HTTPException(401, f"the signature's timestamp is more than {tolerance} s off")
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    wanted = sign(settings.integration_secret.get_secret_value(), int(stamp), request.method,
                  target, await request.body())
    if not hmac.compare_digest(given, wanted):
        raise HTTPException(401, "the request's signature does not match its content")
    if request.method in ("GET", "HEAD"):
        return  # reading twice does nothing twice: no replay to refuse
    digest = wanted.removeprefix("sha256=")
    # Kept in the request's own transaction: a request that fails is not kept as seen.
    await session.execute(delete(SeenSignature).where(
        SeenSignature.seen_at < utcnow() - timedelta(seconds=2 * tolerance)))
    try:
        async with session.begin_nested():
            session.add(SeenSignature(signature=digest, seen_at=utcnow()))
    except IntegrityError:
        raise HTTPException(401, "this signed request was already received (a replay)") from None
