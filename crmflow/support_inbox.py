"""The dev stack's support mailbox: mail sent to the support address through the local SMTP
server is handed to the API (``POST /inbound/email``), as a company's mail system would, so
a person can open and answer tickets from any mail client."""

from __future__ import annotations

import time

import httpx
import structlog

from api.signatures import SIGNATURE, TIMESTAMP, sign

log = structlog.get_logger(__name__)
PATH = "/inbound/email"


class DeliveryRefused(RuntimeError):
    """The API did not take the message; the SMTP client is told to try again."""


class SupportInbox:
    def __init__(self, api_url: str, token: str, address: str, secret: str | None = None) -> None:
        self.api_url = api_url
        self.token = token
        self.address = address.lower()
        self.secret = secret

    async def __call__(self, raw: bytes, recipients: list[str]) -> None:
        """Post the message to the API when it is for the support address."""
        if self.address not in (r.lower() for r in recipients):
            return
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "message/rfc822"}
        if self.secret:  # outside systems sign their requests (see api.signatures)
            stamp = int(time.time())
            headers[TIMESTAMP] = str(stamp)
            headers[SIGNATURE] = sign(self.secret, stamp, "POST", PATH, raw)
        async with httpx.AsyncClient(timeout=30) as http:
            answer = await http.post(self.api_url + PATH, content=raw, headers=headers)
        if answer.status_code == 422:  # not an email support can read: kept, not retried
            log.warning("support mail unreadable", detail=answer.text[:500])
            return
        if answer.status_code >= 300:
            log.warning("support mail not taken by the API", status=answer.status_code,
                        detail=answer.text[:500])
            raise DeliveryRefused(f"the API answered {answer.status_code}")
        log.info("support mail delivered", **answer.json())
