"""The floor's one activity: a CRM step — status, history row, sale, outbox row in one
transaction — then its email over SMTP, once.

Idempotent by key: the history row's key is ``<workflow id>:<status>``, the outbox row's
``<workflow id>:<purpose>`` (``ON CONFLICT DO NOTHING``), so a retried attempt writes
nothing twice. The email is sent only while its row is not ``sent``; the moment the SMTP
server accepts it the attempt heartbeats so, and an attempt that finds that heartbeat only
marks the row. The window left is crmflow's: a worker killed between the acceptance and the
heartbeat reaching the server sends a second copy, with the same Message-ID.
"""

from __future__ import annotations

import contextlib
import hashlib
from decimal import Decimal

import aiosmtplib
from temporalio import activity

from bench.floor.flows import STEP, Email, Step
from bench.floor.sql import Database, Transaction

SENDER = "crm@floor.example"
TABLES = {"lead": "leads", "quote": "quotes"}


class Steps:
    def __init__(self, db: Database, smtp_host: str, smtp_port: int) -> None:
        self.db, self.smtp_host, self.smtp_port = db, smtp_host, smtp_port

    @activity.defn(name=STEP)
    async def floor_step(self, s: Step) -> None:
        key = f"{s.workflow_id}:{s.email.purpose}" if s.email else ""
        async with self.db.transaction() as t:
            if s.to_status:
                await self._status(t, s)
            if s.sale is not None:
                await self._sale(t, s)
            if s.email:
                await t.execute(
                    "INSERT INTO email_outbox (idempotency_key, purpose, template, recipient, "
                    "subject, body_text, body_html, message_id, related_type, related_id, "
                    "workflow_id, status, attempts, created_at) VALUES ($1, $2, $2, $3, $4, "
                    "$5, '', $6, $7, $8, $9, 'sending', 1, $10) "
                    "ON CONFLICT (idempotency_key) DO NOTHING",
                    key, s.email.purpose, s.email.to, s.email.subject, s.email.body,
                    _message_id(key), s.object_type, s.object_id, s.workflow_id, self.db.now())
                sent = await t.fetchval(
                    "SELECT status FROM email_outbox WHERE idempotency_key = $1", key) == "sent"
        if s.email is None or sent:
            return
        if "accepted" not in activity.info().heartbeat_details:
            await self._send(s.email, key)
        async with self.db.transaction() as t:
            await t.execute("UPDATE email_outbox SET status = 'sent', sent_at = $1 "
                            "WHERE idempotency_key = $2", self.db.now(), key)

    async def _status(self, t: Transaction, s: Step) -> None:
        now = self.db.now()
        await t.execute(f"UPDATE {TABLES[s.object_type]} SET status = $1 WHERE id = $2",
                        s.to_status, s.object_id)
        if s.object_type == "quote" and s.actor_user_id is not None and s.to_status in (
                "validated", "rejected"):
            await t.execute("UPDATE quotes SET decided_by_id = $1 WHERE id = $2",
                            s.actor_user_id, s.object_id)
        await t.execute(
            "INSERT INTO status_changes (object_type, object_id, from_status, to_status, actor, "
            "actor_user_id, workflow_id, idempotency_key, changed_at, entered_at) VALUES ($1, "
            "$2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (idempotency_key) DO NOTHING",
            s.object_type, s.object_id, s.from_status, s.to_status, s.actor, s.actor_user_id,
            s.workflow_id, f"{s.workflow_id}:{s.to_status}", now)

    async def _sale(self, t: Transaction, s: Step) -> None:
        sale = s.sale
        assert sale is not None
        amount = Decimal(str(sale.amount)).quantize(Decimal("0.01"))
        await t.execute(
            "INSERT INTO sales (quote_id, lead_id, account_id, owner_id, team_id, amount, "
            "currency, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'EUR', $7) "
            "ON CONFLICT (quote_id) DO NOTHING",
            s.object_id, sale.lead_id, sale.account_id, sale.owner_id, sale.team_id,
            str(amount) if self.db.sqlite else amount, self.db.now())

    async def _send(self, email: Email, key: str) -> None:
        message = (
            f"From: {SENDER}\r\nTo: {email.to}\r\nSubject: {email.subject}\r\n"
            f"Message-ID: {_message_id(key)}\r\nX-Crmflow-Key: {key}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{email.body}").encode()
        smtp = aiosmtplib.SMTP(hostname=self.smtp_host, port=self.smtp_port, timeout=30)
        await smtp.connect()
        try:
            await smtp.sendmail(SENDER, [email.to], message)
            activity.heartbeat("accepted")  # at once: the conversation's end is not waited for
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()


def _message_id(key: str) -> str:
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@floor.example>"
