"""Quotes: drafted and changed by their author, approved through their approval process."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BaseModel, Field, TypeAdapter
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from api import decisions, processes
from api.access import GrantDep
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep
from api.idempotency import Once, OnceDep, Replay
from api.inputs import (
    Currency,
    Filter,
    Id,
    In,
    Offset,
    Paragraphs,
    SingleLine,
    lines_total,
)
from api.lookups import ObjectId, QuoteDep, QuoteToChange, reached
from api.problems import invalid
from api.schemas import Out, StatusChangeOut, as_json
from crm import launcher
from crm.errors import Conflict, CrmError, MissingInformation, NotFound
from crm.models import Account, Contact, Lead, ProcessStart, Quote, User
from crm.own import enrolments
from crm.repo import history, leads, quotes, starts
from crm.repo.query import Rows, record, records
from crm.settings import Settings
from workflows.quote_approval import CustomerResponse, ManagerDecision, QuoteApproval, QuoteSending
from workflows.registry import QUOTE_APPROVAL

router = APIRouter(tags=["quotes"])


class LineIn(In):
    description: Annotated[SingleLine, Field(max_length=500)]
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


Discount = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


def _total_fits(lines: list[LineIn] | None) -> list[LineIn] | None:
    lines_total(line.quantity * line.unit_price for line in lines or [])
    return lines


class QuoteIn(In):
    lead_id: Id
    lines: Annotated[list[LineIn], AfterValidator(_total_fits)] = Field(
        default_factory=list, max_length=200)
    discount_pct: Discount = Decimal(0)
    currency: Currency = "EUR"
    contact_id: Id | None = Field(None, description="Defaults to the lead's contact")


class QuotePatch(In):
    lines: Annotated[list[LineIn] | None, AfterValidator(_total_fits)] = Field(
        None, max_length=200)
    discount_pct: Discount | None = None
    currency: Currency | None = None
    contact_id: Id | None = None


class DecisionIn(In):
    approve: bool
    comment: Annotated[Paragraphs, Field(max_length=2000)] | None = None


class CustomerResponseIn(In):
    accepted: bool
    note: Annotated[Paragraphs, Field(max_length=2000)] | None = None


class LineOut(Out):
    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal


class TotalsOut(BaseModel):
    subtotal: Decimal
    discount: Decimal
    total: Decimal


class QuoteOut(Out):
    id: int
    lead_id: int
    account_id: int | None
    contact_id: int | None
    author_id: int
    author_name: str
    customer: str | None
    """The account's name."""
    team_id: int | None
    status: str
    discount_pct: Decimal
    currency: str
    submission: int
    valid_until: datetime | None
    decided_by_id: int | None
    decision_comment: str | None
    lines: list[LineOut]
    totals: TotalsOut
    process_id: str | None
    history: list[StatusChangeOut]


QUOTES, QUOTE = TypeAdapter(list[QuoteOut]), TypeAdapter(QuoteOut)
"""The answers' adapters, built once."""


async def views(connection: AsyncConnection, rows: Rows) -> list[QuoteOut]:
    """The quotes (rows of ``quotes.SHOWN``) as answered, their lines and histories read in
    one query each (not one per quote), validated at once."""
    ids = [quote.id for quote in rows]
    lines = await quotes.lines_shown(connection=connection, quote_ids=ids)
    changes = await history.histories_shown(connection=connection, object_type="quote",
                                            object_ids=ids)
    return QUOTES.validate_python([_shown(quote, lines.get(quote.id, []),
                                          changes.get(quote.id, [])) for quote in rows])


def _shown(quote: Row[Any], lines: list[Row[Any]], changes: list[Row[Any]]) -> dict[str, Any]:
    total = quotes.discounted(sum((line.quantity * line.unit_price for line in lines),
                                  Decimal(0)), quote.discount_pct)
    return {
        **record(quote),
        "author_name": "?" if quote.author_name is None else quote.author_name,
        "lines": records(lines),
        "totals": vars(total),
        "process_id": QUOTE_APPROVAL.workflow_id(quote.id) if quote.submission else None,
        "history": records(changes),
    }


async def _fresh(session: SessionDep, quote_id: int) -> QuoteOut:
    """The quote as the database has it now (a process may just have changed it)."""
    await session.flush()
    session.expire_all()
    connection = await session.connection()
    quote = await quotes.shown_quote(connection=connection, quote_id=quote_id)
    if quote is None:
        raise NotFound("quote", quote_id)
    [shown] = await views(connection, [quote])
    return shown


async def _check_contact(session: SessionDep, contact_id: int, account_id: int | None) -> None:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.account_id != account_id:
        raise invalid("contact_id", f"no contact {contact_id} at the quote's account")


def _only_editable(quote: Quote) -> None:
    if quote.status not in quotes.EDITABLE:
        why = (": locked while it waits for management approval"
               if quote.status in quotes.AWAITING_DECISION else "")
        raise Conflict(f"quote {quote.id} is {quote.status}{why}; only a draft or a rejected "
                       f"quote can be changed or submitted")


@router.post("/quotes", status_code=status.HTTP_201_CREATED, response_model=QuoteOut)
async def create_quote(body: QuoteIn, session: SessionDep, grant: GrantDep, once: OnceDep
                       ) -> Any:
    """A draft quote for a qualified lead: a rep's own, a manager's team's."""
    await once.claim(session)
    lead = await leads.get_lead(session=session, lead_id=body.lead_id)
    await grant.check(session, Lead, lead.id, f"lead {lead.id}")
    if lead.status != "qualified":
        raise Conflict(f"lead {lead.id} is {lead.status}: only a qualified lead gets quotes")
    if body.contact_id is not None:
        await _check_contact(session, body.contact_id, lead.account_id)
    quote = await quotes.create_quote(
        session=session,
        lead_id=lead.id,
        account_id=lead.account_id,
        contact_id=body.contact_id or lead.contact_id,
        author=grant.user,
        lines=[quotes.LineInput(**line.model_dump()) for line in body.lines],
        discount_pct=body.discount_pct,
        currency=body.currency,
    )
    answer = await _fresh(session, quote.id)
    await once.keep(session, status.HTTP_201_CREATED, answer)
    return answer


@router.get("/quotes", response_model=list[QuoteOut])
async def list_quotes(
    session: SessionDep,
    grant: GrantDep,
    status: Filter | None = None,
    lead_id: Annotated[Id | None, Query()] = None,
    author_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    """Newest first: a rep's or a manager's team's quotes, all for an admin."""
    connection = await session.connection()
    rows = await quotes.shown_quotes(connection=connection, user=grant.user, scope=grant.scope,
                                     status=status, lead_id=lead_id, author_id=author_id,
                                     limit=limit, offset=offset)
    return as_json(QUOTES, await views(connection, rows))


@router.get("/quotes/{quote_id}", response_model=QuoteOut)
async def get_quote(quote_id: ObjectId, session: SessionDep, grant: GrantDep) -> Any:
    """The quote with its lines, totals and status history."""
    connection = await session.connection()
    found = await quotes.shown_quote(connection=connection, quote_id=quote_id,
                                     user=grant.user, scope=grant.scope)
    quote = await reached(connection, grant, Quote, quote_id, "quote", found)
    [shown] = await views(connection, [quote])
    return as_json(QUOTE, shown)


@router.patch("/quotes/{quote_id}", response_model=QuoteOut)
async def change_quote(quote: QuoteToChange, body: QuotePatch, session: SessionDep,
                       client: TemporalDep, state: StateDep, policies: PoliciesDep) -> Any:
    """Only the author changes a quote, and only a draft or a rejected one. A workflow of
    your own triggered by a field it changes (``field_set``) enrols the quote."""
    _only_editable(quote)
    changed = [name for name, value in (("discount_pct", body.discount_pct),
                                        ("currency", body.currency))
               if value is not None and getattr(quote, name) != value]
    if body.contact_id is not None:
        await _check_contact(session, body.contact_id, quote.account_id)
        quote.contact_id = body.contact_id
    if body.lines is not None:
        quotes.replace_lines(quote, [quotes.LineInput(**line.model_dump()) for line in body.lines])
    if body.discount_pct is not None:
        quote.discount_pct = body.discount_pct
    if body.currency is not None:
        quote.currency = body.currency
    enrolled = [made for name in changed for made in await enrolments.automatic(
        session=session, object_type="quote", object_id=quote.id, when="field_set",
        field=name, policies=policies)]
    await session.commit()
    await enrolments.after_change(session, client, state.settings, "quote", quote.id,
                                  enrolled, marks=state.start_marks)
    return await _fresh(session, quote.id)


@router.post("/quotes/{quote_id}/submit", response_model=QuoteOut)
async def submit_quote(
    quote: QuoteToChange,
    session: SessionDep,
    user: CurrentUser,
    client: TemporalDep,
    state: StateDep,
    policies: PoliciesDep,
    once: OnceDep,
) -> Any:
    """Submit for approval: validated at once, or pending management approval (locked).

    The quote is locked while this runs, so a double click submits once: the second click
    finds it submitted (409), or, while its approval is still starting, joins it. The same
    request sent again (its Idempotency-Key) after its answer was lost joins the submission
    it made, started or not."""
    quote_id, settings = quote.id, state.settings
    if (kept := await once.answered(session)) is not None and kept.status_code:
        return Replay(kept).response()
    workflow_id = QUOTE_APPROVAL.workflow_id(quote_id)
    pending = await starts.pending(session=session, workflow_id=workflow_id)
    made = await starts.latest(session=session, workflow_id=workflow_id) \
        if quote.status == "submitted" and kept is not None and not pending else None
    joined = pending[-1] if pending else made
    if quote.status == "submitted" and joined is not None:
        # a submission that met Temporal down: start it now, or join the one started
        start, fresh = joined, False
    else:
        _only_editable(quote)
        start, fresh = await _submission(session, quote, user, policies), True
        await once.claim(session)
        await once.keep(session, 0, None, workflow_id=start.workflow_id)
        await session.commit()
    await processes.submit_quote(session, client, settings, start, fresh=fresh,
                                 marks=state.start_marks)
    answer = await _fresh(session, quote_id)
    await once.keep(session, status.HTTP_200_OK, answer, workflow_id=workflow_id)
    return answer


async def _submission(
    session: SessionDep, quote: Quote, user: User, policies: PoliciesDep
) -> ProcessStart:
    """The quote submitted once more, with its approval process recorded to start."""
    missing = quotes.missing_to_submit(quote)
    if missing:
        raise MissingInformation("a quote needs a contact and a priced line to be submitted",
                                 missing)
    contact = await session.get(Contact, quote.contact_id)
    account = await session.get(Account, quote.account_id) if quote.account_id else None
    assert contact is not None
    quote.submission += 1
    await history.change_status(session=session, object_type="quote", object_id=quote.id,
                                to_status="submitted", actor=f"user:{user.id}",
                                actor_user_id=user.id, reason="submitted for approval")
    data = processes.quote_approval_input(
        quote, user, account.name if account else contact.name, contact, policies
    )
    return await launcher.record_start(session, QUOTE_APPROVAL, quote.id, data)


async def _drive(
    session: SessionDep, quote: Quote, client: TemporalDep, settings: Settings, once: Once,
    update: Any, arg: Any,
) -> Any:
    """Hand a decision to the quote's process and answer with the quote it leads to."""
    quote_id = quote.id

    async def ended() -> CrmError:
        current = await _fresh(session, quote_id)
        return Conflict(f"quote {quote_id} is {current.status}: no decision is pending")

    async def answer(_: Any) -> Any:
        return await _fresh(session, quote_id)

    return await decisions.decide(session, client, settings, once,
                                  QUOTE_APPROVAL.workflow_id(quote_id), update, arg,
                                  ended=ended, answer=answer)


@router.post("/quotes/{quote_id}/decision", response_model=QuoteOut)
async def decide(
    quote: QuoteDep, body: DecisionIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """A manager of the team (never the author) approves or rejects, with a comment."""
    decision = ManagerDecision(body.approve, user.id, user.role, user.team_id, body.comment)
    return await _drive(session, quote, client, state.settings, once, QuoteApproval.decide,
                        decision)


@router.post("/quotes/{quote_id}/send", response_model=QuoteOut)
async def send(
    quote: QuoteDep, session: SessionDep, user: CurrentUser, client: TemporalDep,
    state: StateDep, once: OnceDep,
) -> Any:
    """Send a validated quote to the customer (409 for any other status)."""
    return await _drive(session, quote, client, state.settings, once,
                        QuoteApproval.send_to_customer, QuoteSending(user.id, user.role))


@router.post("/quotes/{quote_id}/customer-response", response_model=QuoteOut)
async def customer_response(
    quote: QuoteDep, body: CustomerResponseIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The customer accepted (won: a sale is recorded) or declined (lost)."""
    return await _drive(session, quote, client, state.settings, once,
                        QuoteApproval.customer_answered,
                        CustomerResponse(body.accepted, user.id, body.note))


@router.get("/approvals", response_model=list[QuoteOut])
async def approvals(session: SessionDep, grant: GrantDep) -> Any:
    """The quotes waiting for the calling manager's decision: their team's, not their own."""
    connection = await session.connection()
    rows = await quotes.shown_awaiting_decision(connection=connection, user=grant.user,
                                                scope=grant.scope)
    return as_json(QUOTES, await views(connection, rows))
