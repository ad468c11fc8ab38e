"""A document's values read from its object, for the documents an email does not carry the
values of: the invoice, as it was issued."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm.documents.attached import money
from crm.errors import NotFound
from crm.models import Account, Invoice


async def invoice(session: AsyncSession, invoice_id: int) -> dict[str, Any]:
    """The invoice's number, customer, dates, lines and total, as issued."""
    found = await session.get(Invoice, invoice_id)
    if found is None:
        raise NotFound("invoice", invoice_id)
    account = await session.get(Account, found.account_id)
    currency = found.currency
    issued = [line for line in found.lines if line.kind != "late_fee"]  # the fees came after
    lines = [{"description": line.description, "amount": money(line.amount, currency)}
             for line in issued] or [{"description": "Amount due",
                                      "amount": money(found.amount, currency)}]
    return {"number": found.number, "customer": account.name if account else "",
            "issued_on": found.issued_on.isoformat(), "due_on": found.due_on.isoformat(),
            "lines": lines, "total": money(found.amount, currency)}


FACTS = {"invoice": invoice}
"""For each document kind read from its object, how its values are read."""
