"""A step whose write waits on the database must still go on and replay (issue 11).

A process that wrote through a local activity kept its workflow task open for the write;
a slow write split the task in two, and replay, which joins them, read another
``workflow.now()`` than the run did. Every CRM write is now an activity Temporal schedules,
so the task that asks for it is completed at once: each test holds the row a step writes
(the write waits, started by a worker), lets the process go on to the next timed step, and
replays the whole history as a new worker would.
"""

from __future__ import annotations

from datetime import time, timedelta

from temporalio.client import WorkflowHandle

from crm.models import Invoice, Ticket
from tests.replaying import worker_replayer
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.invoices import CUSTOMER, DAY, issued_invoice, start_dunning
from tests.workflows.test_races import TASK_TIMEOUT, a_writer_waits, row_held
from tests.workflows.tickets import recorded_ticket, start_ticket
from workflows.dunning_contracts import UPDATE_INVOICE
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
        await a_writer_waits(invoice.handle, UPDATE_INVOICE)  # the level's write waits
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
        await a_writer_waits(handle, None)  # the ticket's first write waits
    await h.env.sleep(timedelta(days=3))  # past its SLA warnings and breaches
    state = await handle.query(SupportTicket.current_state)
    assert [clock.state for clock in state.clocks] == ["breached", "breached"]
    await replays(handle)
