"""A quote's document before it is sent: the PDF its email would carry, from the quote as
it stands (nothing kept; the one sent is rendered from what was submitted)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from crm.documents.attached import document_of
from crm.documents.render import pdf
from crm.errors import MissingInformation
from crm.models import Account, Contact, Quote, User
from crm.models.base import utcnow
from crm.repo.quotes import totals
from workflows.contracts import EmailToSend
from workflows.steps import plain


async def quote_preview(session: AsyncSession, quote: Quote, validity: timedelta,
                        company_templates: Path | None = None) -> bytes:
    """The quote's PDF as it would go out now; valid until ``validity`` after today when it
    has not been sent yet."""
    contact = await session.get(Contact, quote.contact_id) if quote.contact_id else None
    if contact is None:
        raise MissingInformation("a quote's document names its contact", ["contact"])
    account = await session.get(Account, quote.account_id) if quote.account_id else None
    author = await session.get(User, quote.author_id)
    valid_until = quote.valid_until or utcnow() + validity
    email = EmailToSend(
        to=contact.email, template="quote_sent", related_type="quote", related_id=quote.id,
        purpose=f"submission_{quote.submission}:sent", context={
            "recipient_name": contact.name, "quote_id": quote.id,
            "customer": account.name if account else contact.name,
            "author_name": author.name if author else "", "discount_pct": plain(
                quote.discount_pct),
            "total": f"{totals(quote).total:.2f} {quote.currency}",
            "valid_until": valid_until.date().isoformat(),
            "lines": [{"description": line.description, "quantity": plain(line.quantity),
                       "unit_price": f"{line.unit_price:.2f}"} for line in quote.lines]})
    document = document_of(email)
    assert document is not None and document.context is not None
    return pdf(document.template, document.context, company_templates)
