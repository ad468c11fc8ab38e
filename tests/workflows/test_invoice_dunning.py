"""InvoiceDunning on the time-skipping server: the ladder's 45 days and more pass in seconds,
with the real activities (SQLite, SMTP)."""

from __future__ import annotations

import asyncio
import io
from datetime import date
from decimal import Decimal

import pypdf
import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from crm import db
from crm.models import Invoice, Payment, StoredFile, Task, Ticket
from crmflow.mail_sink import ReceivedMail
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.invoices import CUSTOMER, DAY, dunned_invoice, statuses
from workflows.dunning_types import (
    DisputeDecision,
    DisputeRaised,
    DunningState,
    PaymentReceived,
    PromiseToPay,
    WriteOff,
)
from workflows.invoice_dunning import InvoiceDunning
from workflows.messages import DISPUTE_RESOLVED, DisputeResolution


def paying(amount: str, reference: str) -> PaymentReceived:
    return PaymentReceived(Decimal(amount), reference)


def on(state: DunningState) -> date | None:
    """The day of the next action (its time carries the milliseconds the process took)."""
    return state.next_action_at.date() if state.next_action_at else None


def dunning_mail(h: Harness) -> list[ReceivedMail]:
    """What the invoice's process sent the customer (a dispute's ticket writes too)."""
    return [m for m in h.mail.to(CUSTOMER) if m.key.startswith("invoice-")]


def purposes(h: Harness) -> list[str]:
    return [m.purpose for m in dunning_mail(h)]


async def tickets_about(h: Harness, invoice_id: int) -> list[Ticket]:
    async with db.unit_of_work(h.sessions) as session:
        return list(await session.scalars(select(Ticket).where(Ticket.invoice_id == invoice_id)))


async def tasks_about(h: Harness, invoice_id: int) -> list[Task]:
    async with db.unit_of_work(h.sessions) as session:
        return list(await session.scalars(select(Task).where(
            Task.related_type == "invoice", Task.related_id == invoice_id).order_by(Task.id)))


async def test_an_unpaid_invoice_climbs_the_whole_ladder_to_collections(
    harness: Harness,
) -> None:
    h = harness
    petra = await factories.accountant(h.sessions)
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, issued_by=petra)

    await invoice.at(-3 * DAY + 1 * DAY / 24)
    [courtesy] = await eventually(lambda: dunning_mail(h))
    assert courtesy.subject.startswith("Invoice INV-")
    assert "is due in 3 days" in courtesy.text
    assert "Open balance: 600.00 EUR" in courtesy.text
    assert "How to pay: transfer 600.00 EUR" in courtesy.text

    await invoice.at(46 * DAY)
    await eventually(lambda: len(dunning_mail(h)) == 4)
    mail = dunning_mail(h)
    assert [m.purpose for m in mail] == ["level_1", "level_2", "level_3", "level_4"]
    assert mail[1].subject == "Reminder 1: invoice INV-000001, 600.00 EUR open"
    assert "is now 7 days late" in mail[1].text
    assert "is now 14 days late" in mail[2].text
    assert mail[3].subject == "Formal notice: invoice INV-000001, 630.00 EUR open"
    assert "A late fee of 30.00 EUR has been added" in mail[3].text
    assert "Open balance: 630.00 EUR (invoice total 630.00 EUR)" in mail[3].text
    # Each email of the ladder carries the invoice, rendered once as it was issued.
    documents = {m.attachments[0] for m in [courtesy, *mail]}
    [(name, kind, document)] = documents
    assert (name, kind) == ("invoice-INV-000001.pdf", "application/pdf")
    text = " ".join(pypdf.PdfReader(io.BytesIO(document)).pages[0].extract_text().split())
    for said in ("Invoice INV-000001", "To: Acme", f"Due on: {invoice.day(0)}",
                 "Total 600.00 EUR"):
        assert said in text, (said, text)
    async with db.unit_of_work(h.sessions) as session:
        kept = list(await session.scalars(select(StoredFile)))
    assert [(f.object_type, f.object_id, f.kind, f.source) for f in kept] == [
        ("invoice", invoice.invoice_id, "invoice", "rendered")]

    state = await invoice.handle.query(InvoiceDunning.current_state)
    assert (state.status, state.level_reached, state.balance) == (
        "in_collections", 5, Decimal("630.00"))
    assert state.next_action == "payment or a write-off (with collections)"
    tasks = await eventually(lambda: _two(tasks_about(h, invoice.invoice_id)))
    assert [(t.kind, t.assignee_id) for t in tasks] == [
        ("dunning_call", petra.id), ("collections", petra.id)]
    assert tasks[0].title.startswith("Call Acme about invoice INV-000001: 630.00 EUR open, 30")

    # With collections the process waits for a payment or a write-off; no more emails.
    await h.env.sleep(30 * DAY)
    assert len(dunning_mail(h)) == 4
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await invoice.handle.execute_update(
            InvoiceDunning.write_off, WriteOff("bankrupt", petra.id, "sales_rep"))
    assert refused.value.cause.type == "NotAllowed"
    await invoice.handle.execute_update(
        InvoiceDunning.write_off, WriteOff("the customer went bankrupt", petra.id, petra.role))
    result = await invoice.handle.result()
    assert (result.status, result.balance) == ("written_off", Decimal("630.00"))

    assert await statuses(h.sessions, invoice.invoice_id) == [
        ("open", "Courtesy notice: 600.00 EUR open, due in 3 days"),
        ("overdue", f"not paid by its due date {invoice.day(0)}: 600.00 EUR open"),
        ("overdue", "Reminder 1: 600.00 EUR open, 7 days late"),
        ("overdue", "Reminder 2: 600.00 EUR open, 14 days late"),
        ("overdue", "Formal notice: 630.00 EUR open, 30 days late; late fee 30.00 EUR"),
        ("in_collections", "Collections: 630.00 EUR open, 45 days late"),
        ("written_off", "written off: the customer went bankrupt (630.00 EUR open)"),
    ]
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        assert row is not None
        assert (row.status, row.level_reached, row.late_fee) == ("written_off", 5, Decimal(30))
        assert [(line.kind, line.amount) for line in row.lines] == [
            ("item", Decimal("600.00")), ("late_fee", Decimal("30.00"))]
        assert row.closed_at is not None
    assert len(dunning_mail(h)) == 4  # no thank-you for a write-off


async def _two(tasks: object) -> list[Task]:
    found = await tasks  # type: ignore[misc]
    return found if len(found) == 2 else []


@pytest.mark.parametrize(("paid_at", "mail_before"), [
    (-5 * DAY, []),
    (-1 * DAY, ["level_1"]),
    (8 * DAY, ["level_1", "level_2"]),
    (31 * DAY, ["level_1", "level_2", "level_3", "level_4"]),
    (46 * DAY, ["level_1", "level_2", "level_3", "level_4"]),
], ids=["before-the-courtesy-notice", "after-it", "after-reminder-1",
        "after-the-formal-notice", "with-collections"])
async def test_paid_in_full_at_any_stage_the_customer_is_thanked_and_dunning_ends(
    harness: Harness, paid_at: object, mail_before: list[str],
) -> None:
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    await invoice.at(paid_at)  # type: ignore[arg-type]
    await eventually(lambda: purposes(h) == mail_before)
    owed = (await invoice.handle.query(InvoiceDunning.current_state)).balance

    receipt = await invoice.handle.execute_update(
        InvoiceDunning.record_payment, paying(str(owed), "PSP-1"))
    assert (receipt.amount, receipt.balance_after) == (owed, Decimal(0))
    result = await invoice.handle.result()

    assert (result.status, result.balance) == ("paid", Decimal(0))
    [thanks] = (await eventually(lambda: dunning_mail(h)[len(mail_before):]))
    assert (thanks.purpose, thanks.subject) == (
        "paid", "Thank you: invoice INV-000001 is paid")
    assert f"We have received {owed} EUR for invoice INV-000001" in thanks.text
    assert purposes(h) == [*mail_before, "paid"]
    assert (await statuses(h.sessions, invoice.invoice_id))[-1] == (
        "paid", f"paid in full: payment PSP-1 of {owed} EUR")
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        assert row is not None and row.status == "paid" and row.closed_at is not None


async def test_partial_payments_keep_the_ladder_going_on_the_rest_and_are_acknowledged(
    harness: Harness,
) -> None:
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    handle = invoice.handle
    await invoice.at(2 * DAY)
    await handle.execute_update(InvoiceDunning.record_payment, paying("200", "PSP-1"))
    await invoice.at(7 * DAY + DAY / 2)
    await eventually(lambda: "level_2" in purposes(h))
    await handle.execute_update(InvoiceDunning.record_payment, paying("150.50", "PSP-2"))
    await invoice.at(14 * DAY + DAY / 2)
    reminders = await eventually(lambda: dunning_mail(h)[1:] if len(purposes(h)) == 3
                                 else None)

    assert "We received your payment of 200.00 EUR on" in reminders[0].text
    assert "Open balance: 400.00 EUR (invoice total 600.00 EUR)" in reminders[0].text
    assert "200.00 EUR" not in reminders[1].text  # acknowledged once
    assert "We received your payment of 150.50 EUR on" in reminders[1].text
    assert "Open balance: 249.50 EUR" in reminders[1].text
    state = await handle.query(InvoiceDunning.current_state)
    assert (state.status, state.balance, state.next_action) == (
        "overdue", Decimal("249.50"), "formal notice")

    await handle.execute_update(InvoiceDunning.record_payment, paying("249.50", "PSP-3"))
    assert (await handle.result()).status == "paid"
    async with db.unit_of_work(h.sessions) as session:
        payments = list(await session.scalars(select(Payment).order_by(Payment.id)))
    assert [(p.reference, p.amount, p.balance_after) for p in payments] == [
        ("PSP-1", Decimal("200.00"), Decimal("400.00")),
        ("PSP-2", Decimal("150.50"), Decimal("249.50")),
        ("PSP-3", Decimal("249.50"), Decimal("0.00")),
    ]
    assert (await statuses(h.sessions, invoice.invoice_id))[1:] == [
        ("overdue", f"not paid by its due date {invoice.day(0)}: 600.00 EUR open"),
        ("overdue", "payment PSP-1 of 200.00 EUR: 400.00 EUR open"),
        ("overdue", "Reminder 1: 400.00 EUR open, 7 days late"),
        ("overdue", "payment PSP-2 of 150.50 EUR: 249.50 EUR open"),
        ("overdue", "Reminder 2: 249.50 EUR open, 14 days late"),
        ("paid", "paid in full: payment PSP-3 of 249.50 EUR"),
    ]


async def test_a_payment_reference_counts_once_and_what_is_not_owed_is_refused(
    harness: Harness,
) -> None:
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    handle = invoice.handle

    first, *again = await asyncio.gather(*(
        handle.execute_update(InvoiceDunning.record_payment, paying("200.00", "PSP-7"))
        for _ in range(4)))
    assert again == [first] * 3
    assert first.balance_after == Decimal("400.00")

    refusals = []
    for payment in (paying("300", "PSP-7"), paying("400.01", "PSP-8"), paying("0", "PSP-9"),
                    PaymentReceived(Decimal(10), "PSP-10", 1, "sales_rep")):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(InvoiceDunning.record_payment, payment)
        refusals.append((refused.value.cause.type, refused.value.cause.message))
    assert refusals == [
        ("WrongStatus", "payment PSP-7 was recorded as 200.00 EUR: one reference, one payment"),
        ("WrongStatus", f"invoice {invoice.invoice_id} has 400.00 EUR open: a payment of "
                        f"400.01 EUR is more than is owed"),
        ("WrongStatus", "a payment is an amount in cents above zero, not 0"),
        ("NotAllowed", "only accountants, admins and the payment provider record payments"),
    ]
    state = await handle.query(InvoiceDunning.current_state)
    assert (state.balance, len(state.payments)) == (Decimal("400.00"), 1)
    async with db.unit_of_work(h.sessions) as session:
        assert [p.reference for p in await session.scalars(select(Payment))] == ["PSP-7"]
    await handle.terminate("test over")


async def test_a_dispute_pauses_the_ladder_and_a_rejection_resumes_it_with_its_remaining_delay(
    harness: Harness,
) -> None:
    h = harness
    petra = await factories.accountant(h.sessions)
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    handle = invoice.handle
    await invoice.at(9 * DAY)  # reminder 1 went out at +7; reminder 2 is 5 days away
    await eventually(lambda: purposes(h) == ["level_1", "level_2"])

    state = await handle.execute_update(
        InvoiceDunning.dispute, DisputeRaised("we never received the licences"))
    assert (state.status, state.next_action) == ("disputed", "the dispute to be resolved")
    # The dispute opens a billing ticket about the invoice, with its own support process.
    [ticket] = await eventually(lambda: tickets_about(h, invoice.invoice_id))
    assert (ticket.category, ticket.subject, ticket.requester_email) == (
        "billing", "Dispute about invoice INV-000001", CUSTOMER)
    assert (await h.env.client.get_workflow_handle(f"ticket-{ticket.id}").describe()
            ).workflow_type == "SupportTicket"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(InvoiceDunning.promise_to_pay,
                                    PromiseToPay(invoice.day(20)))
    assert refused.value.cause.message == (
        f"invoice {invoice.invoice_id} is disputed (disputed: we never received the licences),"
        f" so it cannot take a promise to pay: only an open, overdue or promised invoice can")

    await invoice.at(20 * DAY)
    assert purposes(h) == ["level_1", "level_2"]  # paused: no reminder 2 at +14
    state = await handle.execute_update(InvoiceDunning.resolve_dispute, DisputeDecision(
        False, "delivery confirmed by the courier", petra.id, petra.role))
    assert state.status == "overdue"
    assert (state.next_action, on(state)) == ("reminder 2", invoice.day(25))

    await invoice.at(24 * DAY + DAY / 2)
    assert purposes(h) == ["level_1", "level_2"]
    await invoice.at(25 * DAY + DAY / 2)
    reminder = (await eventually(lambda: dunning_mail(h)[2:]))[0]
    assert (reminder.purpose, reminder.subject) == (
        "level_3", "Reminder 2: invoice INV-000001, 600.00 EUR open")
    assert "is now 25 days late" in reminder.text
    state = await handle.query(InvoiceDunning.current_state)
    assert (state.next_action, on(state)) == ("formal notice", invoice.day(41))
    assert [s for s, _ in await statuses(h.sessions, invoice.invoice_id)][-3:] == [
        "disputed", "overdue", "overdue"]
    await handle.terminate("test over")


async def test_a_broken_promise_resumes_the_ladder_at_once_and_the_email_says_so(
    harness: Harness,
) -> None:
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    handle = invoice.handle
    await invoice.at(8 * DAY)
    await eventually(lambda: purposes(h) == ["level_1", "level_2"])
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(InvoiceDunning.promise_to_pay,
                                    PromiseToPay(invoice.day(7)))
    assert refused.value.cause.message.startswith("a promise to pay by ")
    assert refused.value.cause.message.endswith(" is in the past (today is "
                                                f"{invoice.day(8)})")

    pay_by = invoice.day(12)
    state = await handle.execute_update(InvoiceDunning.promise_to_pay, PromiseToPay(pay_by))
    # The promised day, then three days' grace: the ladder waits until +16.
    assert (state.status, on(state)) == ("promised", invoice.day(16))
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        assert row is not None and row.promised_on == pay_by

    await invoice.at(15 * DAY + DAY / 2)
    assert purposes(h) == ["level_1", "level_2"]  # no reminder 2 at +14
    await invoice.at(16 * DAY + DAY / 2)
    reminder = (await eventually(lambda: dunning_mail(h)[2:]))[0]
    assert reminder.purpose == "level_3"
    assert f"You promised to pay by {pay_by}; we have not received your payment." in (
        reminder.text)
    assert "is now 16 days late" in reminder.text
    state = await handle.query(InvoiceDunning.current_state)
    # Reminder 2 went two days late: the rest of the ladder follows two days later.
    assert (state.status, on(state)) == ("overdue", invoice.day(32))
    assert (await statuses(h.sessions, invoice.invoice_id))[-3:] == [
        ("promised", f"promised to pay by {pay_by}"),
        ("overdue", f"promise to pay by {pay_by} broken: 600.00 EUR open"),
        ("overdue", "Reminder 2: 600.00 EUR open, 16 days late"),
    ]
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        assert row is not None and row.promised_on is None
    await handle.terminate("test over")


async def test_an_upheld_dispute_from_its_ticket_credits_the_invoice(harness: Harness) -> None:
    h = harness
    agent = await factories.accountant(h.sessions, "Sam")
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions)
    handle = invoice.handle
    await handle.execute_update(InvoiceDunning.record_payment, paying("100", "PSP-1"))
    await handle.execute_update(InvoiceDunning.dispute,
                                DisputeRaised("half the licences were never delivered"))
    await eventually(lambda: tickets_about(h, invoice.invoice_id))

    await handle.signal(DISPUTE_RESOLVED, DisputeResolution(True, "courier lost them", agent.id))
    result = await handle.result()

    assert (result.status, result.balance) == ("credited", Decimal(0))
    [credit] = dunning_mail(h)
    assert (credit.purpose, credit.subject) == ("credited", "Invoice INV-000001 credited")
    assert "a credit note of 500.00 EUR closes the invoice" in credit.text
    assert (await statuses(h.sessions, invoice.invoice_id))[-1] == (
        "credited", "dispute upheld: courier lost them; 500.00 EUR credited")
    async with db.unit_of_work(h.sessions) as session:
        row = await session.get(Invoice, invoice.invoice_id)
        assert row is not None
        assert (row.status, row.credited) == ("credited", Decimal("500.00"))
