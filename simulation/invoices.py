"""The dunning ladder as a simulation runs it: a case is one issued invoice; its outside
events are the payments received (the payments table: amount, when, reference), and what
people and customers did to it in its status history — promises to pay, disputes and their
resolution, write-offs. Dates move with the simulation's clock (a whole number of days), so
a due date and a payment keep their distance."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm.models import Payment, StatusChange, User
from simulation.cases import Case, OutsideEvent, Subject, aware, fixed
from workflows.dunning_ladder import DunningPolicy
from workflows.dunning_types import (
    DisputeDecision,
    DisputeRaised,
    InvoiceDunningInput,
    PaymentReceived,
    PromiseToPay,
    WriteOff,
)
from workflows.invoice_dunning import InvoiceDunning
from workflows.registry import INVOICE_DUNNING
from workflows.roles import Role

_PROMISE = re.compile(r"promised to pay by (\d{4}-\d{2}-\d{2})")


def moved(day: date, shift: timedelta) -> date:
    return (datetime.combine(day, time(12), UTC) + shift).date()


async def events(session: AsyncSession, case: Case,
                 until: datetime | None) -> list[OutsideEvent]:
    found = [await _payment(session, case, p) for p in await session.scalars(
        select(Payment).where(Payment.invoice_id == case.object_id).order_by(Payment.id))]
    query = select(StatusChange).where(
        StatusChange.object_type == "invoice", StatusChange.object_id == case.object_id,
        StatusChange.changed_at >= case.started_at, StatusChange.actor_user_id.is_not(None))
    if until is not None:
        query = query.where(StatusChange.changed_at < until)
    previous = None
    for change in await session.scalars(query.order_by(StatusChange.changed_at,
                                                       StatusChange.id)):
        event = await _change(session, case, change, previous)
        previous = change.to_status
        if event is not None:
            found.append(event)
    return sorted(found, key=lambda e: e.after)


async def _payment(session: AsyncSession, case: Case, payment: Payment) -> OutsideEvent:
    person = await session.get(User, payment.recorded_by_id) if payment.recorded_by_id \
        else None
    return OutsideEvent(
        aware(payment.received_at) - case.started_at, f"paid {payment.amount}",
        InvoiceDunning.record_payment,
        fixed(PaymentReceived(payment.amount, payment.reference or f"payment-{payment.id}",
                              person.id if person else None,
                              person.role if person else Role.INTEGRATION)))


async def _change(session: AsyncSession, case: Case, change: StatusChange,
                  previous: str | None) -> OutsideEvent | None:
    person = await session.get(User, change.actor_user_id)
    if person is None or change.to_status == "paid":
        return None  # a payment is its own event
    after, who, reason = (aware(change.changed_at) - case.started_at, (person.id, person.role),
                          change.reason or "")
    if change.to_status == "promised" and (match := _PROMISE.search(reason)):
        pay_by = date.fromisoformat(match.group(1))
        return OutsideEvent(after, f"promised by {person.name} to pay by {pay_by}",
                            InvoiceDunning.promise_to_pay,
                            lambda shift: PromiseToPay(moved(pay_by, shift), *who))
    if change.to_status == "disputed":
        return OutsideEvent(after, f"disputed: {reason}", InvoiceDunning.dispute,
                            fixed(DisputeRaised(reason, *who)))
    if previous == "disputed" and change.to_status in ("credited", "open", "overdue"):
        upheld = change.to_status == "credited"
        return OutsideEvent(after, f"dispute {'upheld' if upheld else 'rejected'} by "
                                   f"{person.name}", InvoiceDunning.resolve_dispute,
                            fixed(DisputeDecision(upheld, reason, *who)), decision=True)
    if change.to_status == "written_off":
        return OutsideEvent(after, f"written off by {person.name}", InvoiceDunning.write_off,
                            fixed(WriteOff(reason, *who)))
    return None


def prepared(data: InvoiceDunningInput, policy: DunningPolicy,
             shift: timedelta) -> InvoiceDunningInput:
    return dataclasses.replace(data, policy=policy, due_on=moved(data.due_on, shift),
                               notify_process_id=None, carried=None)


INVOICES = Subject(
    process=INVOICE_DUNNING, run=InvoiceDunning.run,
    name=lambda data: f"invoice {data.number}",
    events=events, prepared=prepared,
    outcomes=("paid", "in_collections", "written_off", "credited"),
    simulated_by=(Role.ACCOUNTANT,))
