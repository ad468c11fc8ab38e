"""Quotes: drafted and changed by their author, approved through their approval process."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, Field
from temporalio.client import WorkflowUpdateStage

from api import processes
from api.deps import PoliciesDep, SalesUser, SessionDep, StateDep, TemporalDep, requires
from api.idempotency import Once, OnceDep, Replay
from api.inputs import Currency, Id, In, Offset, Paragraphs, SingleLine
from api.lookups import QuoteDep, QuoteToChange
from api.problems import invalid
from api.schemas import Out, StatusChangeOut
from crm import launcher
from crm.errors import Conflict, Forbidden, MissingInformation
from crm.models import Account, Contact, ProcessStart, Quote, User
from crm.repo import history, leads, quotes, starts
from crm.settings import Settings
from workflows.quote_approval import CustomerResponse, ManagerDecision, QuoteApproval, QuoteSending
from workflows.registry import QUOTE_APPROVAL
from workflows.roles import Role

router = APIRouter(tags=["quotes"])
MayRecordAnswer = Annotated[
    User, Depends(requires(Role.SALES_REP, Role.SALES_MANAGER, Role.ADMIN, Role.INTEGRATION))
]


class LineIn(In):
    description: Annotated[SingleLine, Field(max_length=500)]
    quantity: Decimal = Field(gt=0, max_digits=12, decimal_places=3)
    unit_price: Decimal = Field(ge=0, max_digits=12, decimal_places=2)


Discount = Annotated[Decimal, Field(ge=0, le=100, max_digits=5, decimal_places=2)]


class QuoteIn(In):
    lead_id: Id
    lines: list[LineIn] = Field(default_factory=list, max_length=200)
    discount_pct: Discount = Decimal(0)
    currency: Currency = "EUR"
    contact_id: Id | None = Field(None, description="Defaults to the lead's contact")


class QuotePatch(In):
    lines: list[LineIn] | None = Field(None, max_length=200)
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


async def view(session: SessionDep, quote: Quote) -> QuoteOut:
    changes = await history.history_of(session=session, object_type="quote", object_id=quote.id)
    return QuoteOut.model_validate({
        **{c: getattr(quote, c) for c in QuoteOut.model_fields
           if c not in ("lines", "totals", "process_id", "history", "author_name",
                        "customer")},
        "author_name": (await session.get(User, quote.author_id) or User(name="?")).name,
        "customer": account.name if (account := await session.get(
            Account, quote.account_id) if quote.account_id else None) else None,
        "lines": [LineOut.model_validate(line) for line in quote.lines],
        "totals": TotalsOut.model_validate(quotes.totals(quote).__dict__),
        "process_id": QUOTE_APPROVAL.workflow_id(quote.id) if quote.submission else None,
        "history": [StatusChangeOut.model_validate(c) for c in changes],
    })


async def _fresh(session: SessionDep, quote_id: int) -> QuoteOut:
    """The quote as the database has it now (a process may just have changed it)."""
    await session.flush()
    session.expire_all()
    return await view(session, await quotes.get_quote(session=session, quote_id=quote_id))


async def _check_contact(session: SessionDep, contact_id: int, account_id: int | None) -> None:
    contact = await session.get(Contact, contact_id)
    if contact is None or contact.account_id != account_id:
        raise invalid("contact_id", f"no contact {contact_id} at the quote's account")


def _only_author(quote: Quote, user: User, doing: str) -> None:
    if quote.author_id != user.id:
        raise Forbidden(f"only the author of quote {quote.id} may {doing} it")


def _only_editable(quote: Quote) -> None:
    if quote.status not in quotes.EDITABLE:
        why = (": locked while it waits for management approval"
               if quote.status in quotes.AWAITING_DECISION else "")
        raise Conflict(f"quote {quote.id} is {quote.status}{why}; only a draft or a rejected "
                       f"quote can be changed or submitted")


@router.post("/quotes", status_code=status.HTTP_201_CREATED, response_model=QuoteOut)
async def create_quote(body: QuoteIn, session: SessionDep, user: SalesUser, once: OnceDep) -> Any:
    """A draft quote for a qualified lead."""
    await once.claim(session)
    lead = await leads.get_lead(session=session, lead_id=body.lead_id)
    if lead.status != "qualified":
        raise Conflict(f"lead {lead.id} is {lead.status}: only a qualified lead gets quotes")
    if user.role == Role.SALES_REP and lead.owner_id != user.id:
        raise Forbidden(f"lead {lead.id} belongs to another sales rep")
    if body.contact_id is not None:
        await _check_contact(session, body.contact_id, lead.account_id)
    quote = await quotes.create_quote(
        session=session,
        lead_id=lead.id,
        account_id=lead.account_id,
        contact_id=body.contact_id or lead.contact_id,
        author=user,
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
    _: SalesUser,
    status: str | None = None,
    lead_id: Annotated[Id | None, Query()] = None,
    author_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    rows = await quotes.list_quotes(session=session, status=status, lead_id=lead_id,
                                    author_id=author_id, limit=limit, offset=offset)
    return [await view(session, q) for q in rows]


@router.get("/quotes/{quote_id}", response_model=QuoteOut)
async def get_quote(quote: QuoteDep, session: SessionDep, _: SalesUser) -> Any:
    """The quote with its lines, totals and status history."""
    return await view(session, quote)


@router.patch("/quotes/{quote_id}", response_model=QuoteOut)
async def change_quote(
    quote: QuoteToChange, body: QuotePatch, session: SessionDep, user: SalesUser
) -> Any:
    """Only the author changes a quote, and only a draft or a rejected one."""
    _only_author(quote, user, "change")
    _only_editable(quote)
    if body.contact_id is not None:
        await _check_contact(session, body.contact_id, quote.account_id)
        quote.contact_id = body.contact_id
    if body.lines is not None:
        quotes.replace_lines(quote, [quotes.LineInput(**line.model_dump()) for line in body.lines])
    if body.discount_pct is not None:
        quote.discount_pct = body.discount_pct
    if body.currency is not None:
        quote.currency = body.currency
    return await _fresh(session, quote.id)


@router.post("/quotes/{quote_id}/submit", response_model=QuoteOut)
async def submit_quote(
    quote: QuoteToChange,
    session: SessionDep,
    user: SalesUser,
    client: TemporalDep,
    state: StateDep,
    policies: PoliciesDep,
    once: OnceDep,
) -> Any:
    """Submit for approval: validated at once, or pending management approval (locked).

    The quote is locked while this runs, so a double click submits once: the second click
    finds it submitted (409), or, while its approval is still starting, joins it."""
    _only_author(quote, user, "submit")
    quote_id, settings = quote.id, state.settings
    if (kept := await once.answered(session)) is not None and kept.status_code:
        return Replay(kept).response()
    pending = await starts.pending(session=session,
                                   workflow_id=QUOTE_APPROVAL.workflow_id(quote_id))
    if quote.status == "submitted" and pending:
        start, fresh = pending[-1], False  # a submission that met Temporal down: start it now
    else:
        _only_editable(quote)
        start, fresh = await _submission(session, quote, user, policies), True
        await once.claim(session)
        await once.keep(session, 0, None, workflow_id=start.workflow_id)
        await session.commit()
    workflow_id = start.workflow_id
    await processes.submit_quote(session, client, settings, start, fresh=fresh)
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
    if (kept := await once.answered(session)) is not None:
        return Replay(kept).response()
    quote_id, current = quote.id, quote.status
    await session.commit()  # the process writes the quote: don't hold the database meanwhile
    handle = client.get_workflow_handle(QUOTE_APPROVAL.workflow_id(quote_id))
    await processes.decide(
        settings,
        lambda: handle.start_update(update, arg, wait_for_stage=WorkflowUpdateStage.ACCEPTED,
                                    rpc_timeout=launcher.deadline(settings)),
        when_ended=lambda: Conflict(f"quote {quote_id} is {current}: no decision is pending"),
    )
    answer = await _fresh(session, quote_id)
    await once.keep(session, status.HTTP_200_OK, answer)
    return answer


@router.post("/quotes/{quote_id}/decision", response_model=QuoteOut)
async def decide(
    quote: QuoteDep, body: DecisionIn, session: SessionDep, user: SalesUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """A manager of the team (never the author) approves or rejects, with a comment."""
    decision = ManagerDecision(body.approve, user.id, user.role, user.team_id, body.comment)
    return await _drive(session, quote, client, state.settings, once, QuoteApproval.decide,
                        decision)


@router.post("/quotes/{quote_id}/send", response_model=QuoteOut)
async def send(
    quote: QuoteDep, session: SessionDep, user: SalesUser, client: TemporalDep,
    state: StateDep, once: OnceDep,
) -> Any:
    """Send a validated quote to the customer (409 for any other status)."""
    return await _drive(session, quote, client, state.settings, once,
                        QuoteApproval.send_to_customer, QuoteSending(user.id, user.role))


@router.post("/quotes/{quote_id}/customer-response", response_model=QuoteOut)
async def customer_response(
    quote: QuoteDep, body: CustomerResponseIn, session: SessionDep, user: MayRecordAnswer,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The customer accepted (won: a sale is recorded) or declined (lost)."""
    return await _drive(session, quote, client, state.settings, once,
                        QuoteApproval.customer_answered,
                        CustomerResponse(body.accepted, user.id, body.note))


@router.get("/approvals", response_model=list[QuoteOut])
async def approvals(
    session: SessionDep,
    user: Annotated[User, Depends(requires(Role.SALES_MANAGER, Role.ADMIN))],
) -> Any:
    """The quotes waiting for the calling manager's decision."""
    return [await view(session, q)
            for q in await quotes.awaiting_decision_of(session=session, user=user)]
