"""The objects a path names, as dependencies: 404 when missing, locked where a change
must not race another one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.deps import SessionDep
from crm.errors import NotFound
from crm.models import Lead, Quote
from crm.repo import leads, quotes

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The object's id")]


async def lead_in_path(lead_id: ObjectId, session: SessionDep) -> Lead:
    return await leads.get_lead(session=session, lead_id=lead_id)


async def quote_in_path(quote_id: ObjectId, session: SessionDep) -> Quote:
    return await quotes.get_quote(session=session, quote_id=quote_id)


async def quote_to_change(quote_id: ObjectId, session: SessionDep) -> Quote:
    """The quote, locked until the request's transaction ends: two changes of one quote
    (a double-clicked submit, an edit racing a submit) take turns."""
    quote = await session.get(Quote, quote_id, with_for_update=True, populate_existing=True)
    if quote is None:
        raise NotFound("quote", quote_id)
    return quote


LeadDep = Annotated[Lead, Depends(lead_in_path)]
QuoteDep = Annotated[Quote, Depends(quote_in_path)]
QuoteToChange = Annotated[Quote, Depends(quote_to_change)]
