"""A timed step must replay however late the history says its workflow task started.

``workflow.now()`` is the start of the workflow task being run. When Temporal dies after
handing a worker a task and before keeping it, the task the history keeps can have started
later than the one the worker ran, and a replay then reads a later clock than the run did
(this broke an invoice in a fault run: "Activity machine does not handle this event:
TimerStarted"). A process that let the clock choose between setting a timer for a step and
taking it at once could take it at once on replay, where the run had set a timer. Each test
runs a process to its first timed step, forges its history so that the task that set the
timer started after the timer's time, and replays it as a worker taking the process over.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from crmflow.mail_sink import MailSink
from tests import factories
from tests.replaying import worker_replayer
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.invoices import CUSTOMER, DAY, dunned_invoice, statuses
from tests.workflows.projects import running
from tests.workflows.test_sale_to_project import TWO_STEPS
from tests.workflows.tickets import open_ticket
from workflows.dunning_types import DisputeDecision, DisputeRaised, PromiseToPay
from workflows.invoice_dunning import InvoiceDunning
from workflows.project_types import ProjectPolicy
from workflows.support_ticket import SupportTicket
from workflows.support_types import SupportCalendar, SupportPolicy


def started_after_its_first_timer(history: WorkflowHistory) -> WorkflowHistory:
    """The history, with the task that set its first timer started a day after the timer
    was due to fire."""
    events = list(history.events)
    timer = next(e for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)
    attributes = timer.timer_started_event_attributes
    # the task whose completion set it: the last started before it
    task = next(e for e in reversed(events[:events.index(timer)])
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    fires = timer.event_time.ToDatetime() + attributes.start_to_fire_timeout.ToTimedelta()
    late = Timestamp()
    late.FromDatetime(fires + timedelta(days=1))
    task.event_time.CopyFrom(late)
    return WorkflowHistory(history.workflow_id, events)


async def replays_late(handle: WorkflowHandle) -> None:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    await worker_replayer().replay_workflow(history)  # as it ran
    # raises on nondeterminism
    await worker_replayer().replay_workflow(started_after_its_first_timer(history))


async def test_a_dunning_level_waited_for_replays_with_a_later_clock(harness: Harness) -> None:
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, due_in=10 * DAY)
    await h.env.sleep(8 * DAY)  # the courtesy notice, 3 days before the due date
    await eventually(lambda: [m.purpose for m in h.mail.to(CUSTOMER)] == ["level_1"])
    await replays_late(invoice.handle)


async def test_a_project_reminder_waited_for_replays_with_a_later_clock(
    time_skipping: WorkflowEnvironment, sqlite_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> None:
    async with running(time_skipping, sqlite_url, mail_sink, tmp_path) as w:
        # Design is due in 3 days: its first reminder, the project's first timer, on day 4
        started = await w.start(ProjectPolicy(milestone_reminder=DAY), template=TWO_STEPS)
        await w.env.sleep(5 * DAY)
        reminders = await eventually(lambda: [
            m.purpose for m in w.mail.to(w.team.rep.email) if "reminder" in m.purpose])
        assert reminders[0].endswith(f"reminder_1:{w.team.rep.id}"), reminders
        await replays_late(started.handle)
        await started.handle.terminate("test over")


async def test_a_ticket_sla_warning_waited_for_replays_with_a_later_clock(
    harness: Harness,
) -> None:
    h = harness
    # Round the clock: the first response's warning, the ticket's first timer, comes hours in
    policy = SupportPolicy(calendar=SupportCalendar(
        days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"], opens=time(0),
        closes=time(23, 59), time_zone="UTC", holiday_country=None))
    _, handle = await open_ticket(h.env.client, h.task_queue, h.sessions, policy)
    await h.env.sleep(timedelta(days=3))
    state = await handle.query(SupportTicket.current_state)
    assert [clock.state for clock in state.clocks] == ["breached", "breached"]
    await replays_late(handle)


# Dunning's decisions by messages: a dispute rejected, a promise taken, a promise broken -----


def started_at(history: WorkflowHistory, event: HistoryEvent, when: datetime, *,
               after: bool = False) -> WorkflowHistory:
    """The history, with the workflow task that handled ``event`` started at ``when``: the
    one started before it (an update is accepted by the task it came with), or ``after`` it
    (a timer that fired wakes the process in the next task)."""
    events = list(history.events)
    at = events.index(event)
    around = events[at + 1:] if after else reversed(events[:at])
    task = next(e for e in around if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)
    forged = Timestamp()
    forged.FromDatetime(when)
    task.event_time.CopyFrom(forged)
    return WorkflowHistory(history.workflow_id, events)


def accepted(history: WorkflowHistory, update: str) -> HistoryEvent:
    return next(e for e in history.events
                if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
                and e.workflow_execution_update_accepted_event_attributes.accepted_request
                .input.name == update)


Forgery = Callable[[WorkflowHistory], WorkflowHistory]


async def replays_with(handle: WorkflowHandle, forge: Forgery) -> None:  # type: ignore[type-arg]
    history = await handle.fetch_history()
    await worker_replayer().replay_workflow(history)  # as it ran
    await worker_replayer().replay_workflow(forge(history))  # raises on nondeterminism


async def test_a_rejected_dispute_replays_with_a_clock_past_the_due_date(
    harness: Harness,
) -> None:
    """Rejected before the due date, the invoice is open again and the due date the ladder's
    next step; a replay reading a clock past the due date for the rejection must not make it
    overdue at once, nor push the ladder back by the clock's reading."""
    h = harness
    petra = await factories.accountant(h.sessions)
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, due_in=10 * DAY)
    handle = invoice.handle
    await invoice.at(-6 * DAY)
    await handle.execute_update(InvoiceDunning.dispute, DisputeRaised("wrong licences"))
    await invoice.at(-5 * DAY)
    state = await handle.execute_update(InvoiceDunning.resolve_dispute, DisputeDecision(
        False, "the right licences were delivered", petra.id, petra.role))
    assert state.status == "open"
    await invoice.at(10 * DAY)
    assert [s for s, _ in await statuses(h.sessions, invoice.invoice_id)] == [
        "disputed", "open", "open", "overdue", "overdue"]
    await replays_with(handle, lambda history: started_at(
        history, accepted(history, "resolve_dispute"), invoice.due_day + 20 * DAY))
    await handle.terminate("test over")


async def test_a_promise_replays_with_a_clock_past_its_day(harness: Harness) -> None:
    """A promise is refused for a day already past by its validator alone: a replay reading a
    clock past the promised day must take the promise the run took."""
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, due_in=10 * DAY)
    handle = invoice.handle
    await invoice.at(-6 * DAY)
    state = await handle.execute_update(InvoiceDunning.promise_to_pay,
                                        PromiseToPay(invoice.day(-5)))
    assert state.status == "promised"
    await invoice.at(10 * DAY)
    await replays_with(handle, lambda history: started_at(
        history, accepted(history, "promise_to_pay"), invoice.due_day + 20 * DAY))
    await handle.terminate("test over")


async def test_a_broken_promise_replays_with_a_clock_past_the_due_date(
    harness: Harness,
) -> None:
    """A promise broken before the due date resumes the ladder open; a replay reading a
    clock past the due date when the promise's timer fired must not make it overdue."""
    h = harness
    invoice = await dunned_invoice(h.env, h.task_queue, h.sessions, due_in=10 * DAY)
    handle = invoice.handle
    await invoice.at(-9 * DAY)
    await handle.execute_update(InvoiceDunning.promise_to_pay,
                                PromiseToPay(invoice.day(-9)))  # ends at -5, with its grace
    await invoice.at(10 * DAY)
    assert [s for s, _ in await statuses(h.sessions, invoice.invoice_id)] == [
        "promised", "open", "open", "overdue", "overdue"]

    def broken_late(history: WorkflowHistory) -> WorkflowHistory:
        fired = next(e for e in history.events
                     if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED)
        return started_at(history, fired, invoice.due_day + 20 * DAY, after=True)

    await replays_with(handle, broken_late)
    await handle.terminate("test over")
