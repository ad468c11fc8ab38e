"""Which emails carry a document, and what it says: the quote a customer is sent comes as
its PDF, rendered from what was submitted (the email's own values), once per submission —
a resubmitted quote gets a new document, the old one kept."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from workflows.contracts import EmailToSend

CENT = Decimal("0.01")
_SUBMISSION = re.compile(r"^submission_(\d+):")


@dataclass(frozen=True)
class Document:
    kind: str
    """What it is, as kept on its object's files: quote."""
    name: str
    template: str
    context: dict[str, Any]


def document_of(email: EmailToSend) -> Document | None:
    """The document the email carries, if its template has one."""
    if email.template == "quote_sent" and email.related_id is not None:
        return _quote(email)
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
        lines.append({**line, "amount": _money(amount, currency)})
    discount = subtotal * Decimal(values["discount_pct"]) / 100
    return Document("quote", f"quote-{number}.pdf", "quote.html.j2", {
        **values, "number": number, "lines": lines, "subtotal": _money(subtotal, currency),
        "discount": _money(discount, currency)})


def _money(amount: Decimal, currency: str) -> str:
    return f"{amount.quantize(CENT, ROUND_HALF_UP):,.2f} {currency}"
