"""Invoices: issued by an accountant (or a project's process), each followed by its dunning
process, which takes the payments, disputes, promises and write-offs."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query, status
from pydantic import AfterValidator, BaseModel, Field

from api import decisions
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
from api.lookups import InvoiceDep
from api.problems import invalid
from api.schemas import EmailOut, Out, StatusChangeOut
from api.state import ApiState
from crm import launcher
from crm.errors import Conflict, CrmError
from crm.models import Account, Invoice, Payment
from crm.repo import history, invoices, outbox
from workflows.contracts import InvoiceLineToIssue, InvoiceToIssue
from workflows.dunning_types import (
    DisputeDecision,
    DisputeRaised,
    PaymentReceived,
    PromiseToPay,
    WriteOff,
)
from workflows.invoice_dunning import InvoiceDunning
from workflows.registry import INVOICE_DUNNING

log = structlog.get_logger(__name__)
router = APIRouter(tags=["invoices"])
Money = Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=2)]
Text = Annotated[Paragraphs, Field(min_length=1, max_length=2000)]


def _not_past(day: date) -> date:
    if day < datetime.now(UTC).date():
        raise ValueError("must be today or later")
    return day


NotPast = Annotated[date, AfterValidator(_not_past)]


class LineIn(In):
    description: Annotated[SingleLine, Field(max_length=500)]
    amount: Money


def _total_fits(lines: list[LineIn]) -> list[LineIn]:
    lines_total(line.amount for line in lines)
    return lines


class InvoiceIn(In):
    account_id: Id
    lines: Annotated[list[LineIn], AfterValidator(_total_fits)] = Field(
        min_length=1, max_length=200)
    due_date: NotPast
    currency: Currency = "EUR"


class PaymentIn(In):
    amount: Money
    reference: Annotated[SingleLine, Field(max_length=120,
                                           description="The payment provider's reference")]


class DisputeIn(In):
    reason: Text


class ResolutionIn(In):
    upheld: bool = Field(description="True: the open balance is credited and the invoice "
                                     "closed; false: dunning resumes")
    note: Text


class PromiseIn(In):
    pay_by: NotPast


class WriteOffIn(In):
    reason: Text


class LineOut(Out):
    position: int
    description: str
    amount: Decimal
    kind: str


class PaymentOut(Out):
    id: int
    invoice_id: int
    amount: Decimal
    reference: str | None
    received_at: datetime
    balance_after: Decimal
    recorded_by_id: int | None


class NextAction(BaseModel):
    what: str
    on: datetime | None


class InvoiceOut(Out):
    id: int
    number: str
    account_id: int
    sale_id: int | None
    project_id: int | None
    milestone_id: int | None
    currency: str
    issued_on: date
    due_on: date
    status: str
    total: Decimal
    paid: Decimal
    credited: Decimal
    balance: Decimal
    level_reached: int
    promised_on: date | None
    closed_at: datetime | None
    process_id: str


class InvoiceDetail(InvoiceOut):
    lines: list[LineOut]
    payments: list[PaymentOut]
    next_action: NextAction | None
    history: list[StatusChangeOut]
    emails: list[EmailOut]


class _Ended(Conflict):
    """The invoice's process has ended: its invoice is paid, credited or written off."""


def _summary(invoice: Invoice) -> dict[str, Any]:
    owed = invoices.balance(invoice)
    return {
        **{name: getattr(invoice, name) for name in InvoiceOut.model_fields
           if hasattr(Invoice, name)},
        "total": owed.total, "paid": owed.paid, "balance": owed.open,
        "process_id": INVOICE_DUNNING.workflow_id(invoice.id),
    }


async def _detail(
    session: SessionDep, invoice_id: int, ask: ApiState | None = None
) -> InvoiceDetail:
    """The invoice as the database has it now (its process may just have changed it), with
    the next action its process plans (when told where to ``ask``)."""
    invoice = await _reloaded(session, invoice_id)
    changes = await history.history_of(session=session, object_type="invoice",
                                       object_id=invoice.id)
    emails = await outbox.list_emails(session=session, related_type="invoice",
                                      related_id=invoice.id)
    return InvoiceDetail.model_validate({
        **_summary(invoice),
        "lines": [LineOut.model_validate(line) for line in invoice.lines],
        "payments": [PaymentOut.model_validate(p) for p in invoice.payments],
        "next_action": await _next_action(invoice, ask) if ask else None,
        "history": [StatusChangeOut.model_validate(c) for c in changes],
        "emails": [EmailOut.model_validate(e) for e in reversed(emails)],
    })


async def _reloaded(session: SessionDep, invoice_id: int) -> Invoice:
    invoice = await session.get(Invoice, invoice_id, populate_existing=True)
    assert invoice is not None
    return invoice


async def _next_action(invoice: Invoice, ask: ApiState) -> NextAction | None:
    """What the process waits for next; None once it has ended, or when it cannot say now
    (not started yet, no worker, Temporal down): the invoice is answered all the same."""
    if invoice.status in invoices.FINAL:
        return None
    deadline = min(launcher.deadline(ask.settings), timedelta(seconds=5))
    try:
        client = await asyncio.wait_for(ask.temporal.client(), deadline.total_seconds())
        handle = client.get_workflow_handle(INVOICE_DUNNING.workflow_id(invoice.id))
        state = await handle.query(InvoiceDunning.current_state, rpc_timeout=deadline)
    except Exception as error:
        log.info("next action unknown", invoice_id=invoice.id, error=type(error).__name__)
        return None
    return NextAction(what=state.next_action, on=state.next_action_at)


@router.post("/invoices", status_code=status.HTTP_201_CREATED, response_model=InvoiceDetail)
async def issue_invoice(
    body: InvoiceIn, session: SessionDep, user: CurrentUser, client: TemporalDep,
    state: StateDep, policies: PoliciesDep, once: OnceDep,
) -> Any:
    """Issue an invoice by hand; its dunning process starts at once. Send an
    ``Idempotency-Key`` to retry safely."""
    if (kept := await once.answered(session)) is not None:
        if kept.workflow_id:
            await launcher.resume(session, client, state.settings, kept.workflow_id)
        return Replay(kept).response()
    await once.claim(session)
    if await session.get(Account, body.account_id) is None:
        raise invalid("account_id", f"no account {body.account_id}")
    request = InvoiceToIssue(
        purpose="by_hand", account_id=body.account_id, currency=body.currency,
        lines=[InvoiceLineToIssue(line.description, line.amount) for line in body.lines],
        due_on=body.due_date)
    invoice, start = await invoices.issue(session=session, request=request,
                                          policy=policies.dunning, issued_by=user)
    assert start is not None
    answer = await _detail(session, invoice.id)
    await once.keep(session, status.HTTP_201_CREATED, answer, workflow_id=start.workflow_id)
    await session.commit()
    await launcher.launch(session, client, state.settings, start, fresh=True,
                          marks=state.start_marks)
    return answer


@router.get("/invoices", response_model=list[InvoiceOut])
async def list_invoices(
    session: SessionDep,
    status: Filter | None = None,
    overdue: Annotated[bool, Query(description="Only unpaid invoices past their due date")]
    = False,
    account_id: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    rows = await invoices.list_invoices(
        session=session, status=status, account_id=account_id, limit=limit, offset=offset,
        overdue_on=datetime.now(UTC).date() if overdue else None)
    return [InvoiceOut.model_validate(_summary(row)) for row in rows]


@router.get("/invoices/{invoice_id}", response_model=InvoiceDetail)
async def get_invoice(invoice: InvoiceDep, session: SessionDep, state: StateDep) -> Any:
    """Lines, balance, payments, the level reached, the next action and its date, the
    history and the emails sent."""
    return await _detail(session, invoice.id, state)


@router.post("/invoices/{invoice_id}/payments", status_code=status.HTTP_201_CREATED,
             response_model=PaymentOut)
async def record_payment(
    invoice: InvoiceDep, body: PaymentIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """A payment, full or partial. A reference seen before is not counted twice: the same
    answer comes back. More than the open balance is refused (409, saying how much is open)."""
    if (kept := await once.answered(session)) is not None:
        return Replay(kept).response()
    invoice_id = invoice.id
    if (earlier := await invoices.payment_by_reference(session=session,
                                                       reference=body.reference)) is not None:
        return _the_same_payment(invoice_id, earlier, body)
    payment = PaymentReceived(body.amount, body.reference, user.id, user.role)
    try:
        await decisions.hand_over(
            session, client, state.settings, INVOICE_DUNNING.workflow_id(invoice_id),
            InvoiceDunning.record_payment, payment, update_id=f"payment:{body.reference}",
            ended=_ended(session, invoice_id, "take a payment"))
    except _Ended:
        # The payment that ended the process may be this very one, posted twice at once.
        earlier = await invoices.payment_by_reference(session=session, reference=body.reference)
        if earlier is None:
            raise
    recorded = await invoices.payment_by_reference(session=session, reference=body.reference)
    assert recorded is not None
    answer = _the_same_payment(invoice_id, recorded, body)
    await once.keep(session, status.HTTP_201_CREATED, answer)
    return answer


def _the_same_payment(invoice_id: int, payment: Payment, body: PaymentIn) -> PaymentOut:
    if payment.invoice_id != invoice_id or payment.amount != body.amount:
        raise Conflict(f"payment {payment.reference} was recorded as {payment.amount} on "
                       f"invoice {payment.invoice_id}: one reference, one payment")
    return PaymentOut.model_validate(payment)


@router.post("/invoices/{invoice_id}/dispute", response_model=InvoiceDetail)
async def dispute(
    invoice: InvoiceDep, body: DisputeIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The customer contests the invoice, with a reason: dunning pauses, a ticket opens."""
    return await _decide(session, invoice, client, state, once, "be disputed",
                         InvoiceDunning.dispute, DisputeRaised(body.reason, user.id, user.role))


@router.post("/invoices/{invoice_id}/dispute/resolve", response_model=InvoiceDetail)
async def resolve_dispute(
    invoice: InvoiceDep, body: ResolutionIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """Upheld: the open balance is credited and the invoice closed. Rejected: dunning
    resumes where it was, with its remaining delays."""
    return await _decide(session, invoice, client, state, once,
                         "have a dispute resolved", InvoiceDunning.resolve_dispute,
                         DisputeDecision(body.upheld, body.note, user.id, user.role))


@router.post("/invoices/{invoice_id}/promise", response_model=InvoiceDetail)
async def promise_to_pay(
    invoice: InvoiceDep, body: PromiseIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The customer promises to pay by a date: no reminders until then plus the grace."""
    return await _decide(session, invoice, client, state, once,
                         "take a promise to pay", InvoiceDunning.promise_to_pay,
                         PromiseToPay(body.pay_by, user.id, user.role))


@router.post("/invoices/{invoice_id}/write-off", response_model=InvoiceDetail)
async def write_off(
    invoice: InvoiceDep, body: WriteOffIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """Give up on the open balance: the invoice is closed (refused once it is paid)."""
    return await _decide(session, invoice, client, state, once, "be written off",
                         InvoiceDunning.write_off, WriteOff(body.reason, user.id, user.role))


async def _decide(
    session: SessionDep, invoice: Invoice, client: TemporalDep, ask: ApiState,
    once: Once, doing: str, update: Any, arg: Any,
) -> Any:
    """Hand a decision to the invoice's process; answer with the invoice it leads to."""
    invoice_id = invoice.id

    async def answer(_: Any) -> Any:
        return await _detail(session, invoice_id, ask)

    return await decisions.decide(session, client, ask.settings, once,
                                  INVOICE_DUNNING.workflow_id(invoice_id), update, arg,
                                  ended=_ended(session, invoice_id, doing), answer=answer)


def _ended(session: SessionDep, invoice_id: int, doing: str) -> decisions.Ended:
    async def refusal() -> CrmError:
        ended = await _reloaded(session, invoice_id)
        return _Ended(f"invoice {invoice_id} is {ended.status}: its dunning has ended, so it "
                      f"cannot {doing}")
    return refusal
