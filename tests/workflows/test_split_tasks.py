"""A step whose write waits on the database must still go on and replay (issue 11).

When a local activity outlasts most of its workflow task, the worker completes the task
empty and Temporal starts another at once (a heartbeat; answering a query in the meantime
does the same). Replay joins the two tasks, so ``workflow.now()`` read in the first comes
out as the second's start. A process that compares a later ``now()`` with a time it computed
there can take another branch on replay than it took in the run: a worker that picks it up
after a crash then fails it with a nondeterminism error, and it is stuck. That is how the
writes of processes started before 2026-11-24 ran; the recorded
``InvoiceDunning/queried-while-level-1-was-recorded`` replays such a split. Processes
started since write through scheduled activities, so a slow write no longer splits a task:
each test holds the row a step writes (the write waits), lets the process go on to the next
timed step, and replays the whole history as a new worker would.
"""

from __future__ import annotations

from datetime import time, timedelta

from temporalio.client import WorkflowHandle

from crm.models import Invoice, Ticket
from tests.replaying import worker_replayer
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.invoices import CUSTOMER, DAY, issued_invoice, start_dunning
from tests.workflows.test_races import TASK_TIMEOUT, row_held, while_it_writes
from tests.workflows.tickets import recorded_ticket, start_ticket
from workflows.support_ticket import SupportTicket
from workflows.support_types import SupportCalendar, SupportPolicy


async def replays(handle: WorkflowHandle) -> None:  # type: ignore[type-arg]
    # raises on nondeterminism
    await worker_replayer().replay_workflow(await handle.fetch_history())


async def test_a_dunning_level_recorded_across_two_tasks_replays(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    # Due five days ago: the courtesy level (3 days before the due date) is taken at once,
    # late by 8 days, which pushes the rest of the ladder back by as much.
    issued = await issued_invoice(h.env, h.sessions, due_in=-5 * DAY)
    async with row_held(h.sessions, Invoice, issued.invoice_id):
        invoice = await start_dunning(h.env, h.task_queue, issued, task_timeout=TASK_TIMEOUT)
        await while_it_writes()  # the level's write outlasts its workflow task
    await eventually(lambda: [m.purpose for m in h.mail.to(CUSTOMER)] == ["level_1"])

    await h.env.sleep(10 * DAY + DAY / 24)  # the reminder, 7 days after the due date + 8
    await eventually(lambda: [m.purpose for m in h.mail.to(CUSTOMER)] == ["level_1",
                                                                          "level_2"])
    await replays(invoice.handle)


ROUND_THE_CLOCK = SupportCalendar(days=["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                  opens=time(0), closes=time(23, 59), time_zone="UTC",
                                  holiday_country=None)
"""SLA clocks in wall-clock time: the time the ticket opened at counts to the second."""


async def test_a_ticket_opened_across_two_tasks_replays_its_sla_alarms(
    harness_on_both: Harness,
) -> None:
    h = harness_on_both
    policy = SupportPolicy(calendar=ROUND_THE_CLOCK)
    ticket_id, data = await recorded_ticket(h.sessions, policy)
    async with row_held(h.sessions, Ticket, ticket_id):
        handle = await start_ticket(h.env.client, h.task_queue, ticket_id, data,
                                    task_timeout=TASK_TIMEOUT)
        await while_it_writes()  # the ticket's first save outlasts its workflow task
    await h.env.sleep(timedelta(days=3))  # past its SLA warnings and breaches
    state = await handle.query(SupportTicket.current_state)
    assert [clock.state for clock in state.clocks] == ["breached", "breached"]
    await replays(handle)
