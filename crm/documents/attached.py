"""Which emails carry a document, and what it says: the quote a customer is sent comes as
its PDF, rendered from what was submitted (the email's own values), once per submission —
a resubmitted quote gets a new document, the old one kept; each email of the dunning ladder
carries the invoice, rendered once from the invoice as it was issued."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from workflows.contracts import EmailToSend

CENT = Decimal("0.01")
_SUBMISSION = re.compile(r"^submission_(\d+):")


LADDER = ("dunning_courtesy", "dunning_reminder", "dunning_formal_notice")
"""The dunning emails that carry the invoice."""


@dataclass(frozen=True)
class Document:
    kind: str
    """What it is, as kept on its object's files: quote, invoice."""
    name: str
    """Its file name: one document of that name per object, rendered once."""
    template: str
    context: dict[str, Any] | None
    """Its values; None: read from the object itself (``crm.documents.facts``)."""


def document_of(email: EmailToSend) -> Document | None:
    """The document the email carries, if its template has one."""
    if email.related_id is None:
        return None
    if email.template == "quote_sent":
        return _quote(email)
    if email.template in LADDER and email.related_type == "invoice":
        return Document("invoice", f"invoice-{email.context['number']}.pdf", "invoice.html.j2",
                        None)
    return None


def _quote(email: EmailToSend) -> Document:
    values = email.context
    found = _SUBMISSION.match(email.purpose)
    number = f"{email.related_id}-{found.group(1)}" if found else str(email.related_id)
    currency = str(values["total"]).rpartition(" ")[2]
    lines, subtotal = [], Decimal(0)
    for line in values["lines"]:
        amount = Decimal(line["quantity"]) * Decimal(line["unit_price"])
        subtotal += amount
        lines.append({**line, "amount": money(amount, currency)})
    discount = subtotal * Decimal(values["discount_pct"]) / 100
    return Document("quote", f"quote-{number}.pdf", "quote.html.j2", {
        **values, "number": number, "lines": lines, "subtotal": money(subtotal, currency),
        "discount": money(discount, currency)})


def money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f} {currency}"
