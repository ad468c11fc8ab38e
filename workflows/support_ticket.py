"""Support ticket: from the customer's request to closed (workflow id ``ticket-{id}``)."""

from __future__ import annotations

import asyncio
import copy
import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

from workflows import patches, steps
from workflows.contracts import FIND_PEOPLE, PeopleToFind, Person, StartOptions, TaskToCreate
from workflows.lifecycle import Lifecycle
from workflows.messages import DISPUTE_RESOLVED, DisputeResolution, invoice_process_id
from workflows.refusals import MISSING_INFORMATION, NOT_ALLOWED, refuse
from workflows.roles import Role
from workflows.search_attributes import CRM_OWNER
from workflows.support_types import (
    ASSIGN_TICKET,
    PRIORITIES,
    RECORD_TICKET_MESSAGE,
    SAVE_TICKET,
    TASK_COMPLETED,
    AgentReply,
    ArrivedDocument,
    Assignment,
    CustomerMessage,
    DocumentArrival,
    InfoRequest,
    Rating,
    Reopening,
    Resolution,
    SupportTicketInput,
    TaskCompleted,
    TicketFacts,
    TicketMessageToRecord,
    TicketResult,
    TicketState,
    TicketToRoute,
    TicketView,
)
from workflows.ticket_mail import TicketMail

with workflow.unsafe.imports_passed_through():  # real ZoneInfo objects (see support_types)
    from workflows.sla import SlaClock
    from workflows.ticket_agenda import TicketAgenda, label

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("open", "queued"),
    "queued": ("open", "resolved"),
    "open": ("waiting_on_customer", "resolved"),
    "waiting_on_customer": ("open", "back_office", "resolved", "closed"),
    "back_office": ("open", "resolved"),
    "resolved": ("open", "closed"),
}
"""A ticket's statuses and where each may go; closed is final. ``back_office``: the customer
sent what was asked for and a back-office task checks it; ``open`` again once it is done
(resolving it waits for the task)."""
WORKED_ON = ("new", "queued", "open", "waiting_on_customer", "back_office")
SUPPORT = (Role.SUPPORT_AGENT, Role.SUPPORT_LEAD, Role.ADMIN)
LEADS = (Role.SUPPORT_LEAD, Role.ADMIN)
FOR_THE_CUSTOMER = (Role.INTEGRATION, *SUPPORT)
"""The website, the mail system or chatbot, and staff writing down what a customer said."""


def start_options(ticket: SupportTicketInput) -> StartOptions:
    """How the process shows in the Temporal UI from its start."""
    origin = f"invoice {ticket.invoice_id} disputed" if ticket.invoice_id else ticket.channel
    return StartOptions(
        summary=f"Ticket {ticket.ticket_id} ({ticket.priority}, {ticket.category}): "
                f"{ticket.subject} — {ticket.customer.email} by {origin}"[:400],
        details=f"SLA policy: {ticket.policy}",
        status="new",
        customer_id=ticket.customer.account_id,
    )


@workflow.defn
class SupportTicket:
    """Answer a customer's request within its SLA, in business hours, until the customer's
    word closes it.

    The customer is acknowledged at once with the ticket number; the ticket goes to the
    best-suited available agent (skills matching its category, then the lowest load), or
    else to the team queue, and the support leads are told. Two clocks run in the working
    hours of the policy's calendar: the first response and the resolution, with targets by
    priority. At ``breach_warning_pct`` of a target the agent is warned; at the target the
    leads are told and the ticket is escalated (priority raised; a lead may reassign it).

    Customer and agent messages are updates; the first agent answer stops the first-response
    clock and every answer is emailed to the customer in the ticket's thread. An agent may
    ask the customer for something: the ticket waits on the customer, the resolution clock
    pauses, a reminder goes out every ``waiting_reminder``, and after ``auto_close_after`` of
    silence the ticket closes. The customer's answer resumes it — through a back-office task
    first, when the request named a check; completing that task moves the ticket on.

    Resolved, the customer gets a satisfaction survey: a rating closes the ticket, a reopening
    (or a new message) within ``reopen_window`` puts it back to work, and otherwise it closes
    when the window ends. A complaint from a customer whose account has an owner gives that
    sales rep a follow-up task; resolving a ticket about a disputed invoice tells the
    invoice's dunning process whether the dispute was upheld.
    """

    @workflow.init
    def __init__(self, ticket: SupportTicketInput) -> None:
        self.ticket = ticket
        self.policy = ticket.policy
        self.calendar = ticket.calendar
        self.state = ticket.carried or TicketState(priority=ticket.priority)
        self.lifecycle = Lifecycle("ticket", ticket.ticket_id, TRANSITIONS,
                                   status=self.state.status, on_change=self._recorded)
        self.lifecycle.last.reason = self.state.status_reason
        self.lifecycle.event_prefix = f"{self.state.changes + 1}:"
        self.mail = TicketMail(ticket, self.state)
        self.agenda = TicketAgenda(ticket)
        self.timeline = steps.Timeline()
        self._events = 0
        self._saving = asyncio.Lock()
        self._saved: TicketFacts | None = None
        self._task_outcome = ""

    @workflow.run
    async def run(self, ticket: SupportTicketInput) -> TicketResult:
        if ticket.carried is None:
            await self._open()
        await self._follow()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return TicketResult(self.lifecycle.status, self.state.rating)

    # Opening: acknowledge, route, tell sales about a complaint ------------------------

    async def _open(self) -> None:
        now = workflow.now()
        self.state.opened_at = now
        priority = self.ticket.priority
        self.state.clocks = [SlaClock("first_response", self.policy.first_response[priority]),
                             SlaClock("resolution", self.policy.resolution[priority])]
        for clock in self.state.clocks:
            clock.start(now, self.calendar, self.policy.breach_warning_pct)
        if self.ticket.first_message_id:
            self.state.thread.append(self.ticket.first_message_id)
            self.state.customer_message_id = self.ticket.first_message_id
        await self._save()
        self.mail.to_customer("ticket_received", "acknowledgement",
                              f"Acknowledge ticket {self.ticket.ticket_id} to the customer")
        await self._send_emails()
        await self._route()
        owner = self.ticket.customer.account_owner_id
        if self.ticket.category == "complaint" and owner is not None:
            await steps.create_task(TaskToCreate(
                kind="sales_follow_up",
                title=f"Follow up {self.ticket.customer.name}'s complaint: {self.ticket.subject}",
                purpose="complaint_follow_up",
                assignee_id=owner,
                due_at=now + timedelta(days=1),
                related_type="ticket",
                related_id=self.ticket.ticket_id,
            ))

    async def _route(self) -> None:
        category = self.ticket.category
        agent: Person | None = await steps.write(
            ASSIGN_TICKET,
            TicketToRoute(self.ticket.ticket_id, category, self.policy.agent_capacity),
            result_type=Person | None,  # type: ignore[arg-type]
            summary=f"Assign the available {category} agent with the lowest load",
        )
        if agent is not None:
            async with self._change("open", f"routed to {agent.name} ({category})") as moving:
                if moving:
                    self._assign(agent)
            return
        if await self._move("queued", f"no {category} agent available: in the team queue"):
            for lead in await self._leads():
                self.mail.to_staff(lead, "ticket_queued", f"queued:{lead.user_id}",
                                   f"Tell {lead.name} the ticket waits in the queue")

    # Following the ticket: one loop that sends, reacts to time, and waits -------------

    async def _follow(self) -> None:
        while not self.lifecycle.final:
            await self._send_emails()
            await self._tell_dunning()
            await self._after_tasks()
            await self._on_time()
            if self.lifecycle.final:
                break
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(dataclasses.replace(self.ticket, carried=self._carried()))
            seen = self._events
            self._show()

            def moved(seen: int = seen) -> bool:
                return self._events != seen or bool(self.state.outbox) or self.lifecycle.final

            alarm = self.agenda.next_alarm(self.state, self.lifecycle.status)
            if alarm is None:
                await workflow.wait_condition(moved)
            else:
                await self.timeline.wait_for(alarm[0], moved, alarm[1])
        await self._send_emails()
        await self._tell_dunning()

    async def _on_time(self) -> None:
        """Whatever has fallen due: SLA warnings and breaches, reminders, closing."""
        now = self.timeline.now()
        for clock in self.state.clocks:
            while (alarm := clock.next_alarm()) is not None and alarm[0] <= now:
                if alarm[1] == "warning":
                    clock.warned = True
                    await self._warn(clock)
                else:
                    clock.breached_at = alarm[0]
                    await self._escalate(clock)
        status = self.lifecycle.status
        if status == "waiting_on_customer" and self.state.waiting_since is not None:
            silence = self.policy.auto_close_after
            if now >= self.agenda.silence_ends(self.state):
                if await self._move("closed", f"no answer from the customer within "
                                              f"{steps.describe(silence)}"):
                    self.mail.to_customer("ticket_closed", "closed_for_silence",
                                          "Tell the customer the ticket closed for silence")
                return
            while self.agenda.reminder_due(self.state) <= now:
                self.state.reminders += 1
                n = self.state.reminders
                self.mail.to_customer("ticket_reminder", f"wait_{self.state.waits}:reminder_{n}",
                                      f"Remind the customer ({n})", reminder=n)
        if status == "resolved" and (closes := self.agenda.closes_at(self.state)) and now >= closes:
            await self._move("closed", f"neither reopened nor rated within "
                                       f"{steps.describe(self.policy.reopen_window)}")

    async def _warn(self, clock: SlaClock) -> None:
        """The agent (the leads, while nobody has the ticket) hears the target is near."""
        label = clock.name.replace("_", " ")
        due = self.agenda.at(clock.due_at)
        for person in [self.state.assignee] if self.state.assignee else await self._leads():
            self.mail.to_staff(person, "ticket_sla_warning",
                               f"sla:{clock.name}:warning:{person.user_id}",
                               f"Warn {person.name}: {label} due {due}", clock=label, due=due)

    async def _escalate(self, clock: SlaClock) -> None:
        """A breached target: the leads are told, the priority goes up one step."""
        label = clock.name.replace("_", " ")
        rank = PRIORITIES.index(self.state.priority)
        self.state.priority = PRIORITIES[min(rank + 1, len(PRIORITIES) - 1)]
        self.state.escalated_at = self.state.escalated_at or workflow.now()
        for lead in await self._leads():
            self.mail.to_staff(lead, "ticket_sla_breach", f"sla:{clock.name}:breach:{lead.user_id}",
                               f"Tell {lead.name} the {label} target is breached", clock=label,
                               assignee=self.state.assignee.name if self.state.assignee else "")
        await self._save()

    async def _after_tasks(self) -> None:
        """A back-office ticket whose tasks are all done goes back to its agent, decided once
        no change is under way: the change into back office may still be creating its task
        (a write Temporal schedules takes a workflow task of its own)."""
        def done() -> bool:
            return self.lifecycle.status == "back_office" and not self.state.open_tasks

        if not done():
            return
        if not self.lifecycle.settled:
            await workflow.wait_condition(lambda: self.lifecycle.settled)
            if not done():
                return
        await self._move("open", self._task_outcome or "back-office task done")

    async def _tell_dunning(self) -> None:
        """Resolving a disputed invoice's ticket resolves the dispute (once per resolution)."""
        invoice_id = self.ticket.invoice_id
        if invoice_id is None or self.state.disputes_told >= self.state.resolutions:
            return
        self.state.disputes_told = self.state.resolutions
        dunning = workflow.get_external_workflow_handle(invoice_process_id(invoice_id))
        resolution = DisputeResolution(bool(self.state.upheld), self.state.resolution or "",
                                       self.state.resolved_by, self.ticket.ticket_id)
        try:
            await dunning.signal(DISPUTE_RESOLVED, resolution)
        except ApplicationError:
            workflow.logger.info("invoice %s has no running dunning process to tell", invoice_id)

    async def _send_emails(self) -> None:
        """Send what is owed, once the change that owes it is recorded."""
        await workflow.wait_condition(lambda: self.lifecycle.settled)
        while self.state.outbox:
            await self.mail.send(self.state.outbox[0])
            self.state.outbox.pop(0)

    # Messages ---------------------------------------------------------------------------

    @workflow.update
    async def customer_message(self, message: CustomerMessage) -> TicketView:
        """The customer wrote: recorded; a waiting ticket resumes, a resolved one reopens."""
        if message.email_message_id:
            if message.email_message_id in self.state.thread:
                return self._view()  # the same email, delivered twice
            self.state.thread.append(message.email_message_id)
        self._events += 1
        while True:
            before = self.lifecycle.status
            target = {"waiting_on_customer": "back_office" if self.state.check else "open",
                      "resolved": "open"}.get(before)
            if before == "waiting_on_customer" and not self._brings_awaited(message.documents):
                target = None  # still waiting for the document: the message is kept
            if target is None:
                async with self.lifecycle.lock:
                    if self.lifecycle.status == before:
                        if self.lifecycle.final:
                            self.lifecycle.refuse("take a message")
                        await self._record_customer(message)
                        return self._view()
                continue
            why = ("the customer answered" if before != "resolved"
                   else "the customer wrote again after the resolution")
            async with self._change(target, why) as moving:
                if moving:
                    if before == "resolved":
                        self.state.reopenings += 1
                    await self._record_customer(message)
                    if target == "back_office":
                        await self._create_check()
            if moving:
                return self._view()

    def _brings_awaited(self, documents: list[ArrivedDocument]) -> bool:
        """Whether these files bring the document the ticket waits for, if it waits for one
        (an unlabelled attachment, sent while waiting, is taken as it)."""
        awaited = self.state.awaited_document
        if awaited is None:
            return True
        found = next((d for d in documents if d.kind in (None, awaited)), None)
        if found is not None:
            self.state.arrived = dataclasses.replace(found, kind=awaited)
        return found is not None

    @workflow.update
    async def document_arrived(self, arrival: DocumentArrival) -> TicketView:
        """A file was uploaded to the ticket: the document it waits for resumes it, through
        the back-office check of it; any other file is only kept."""
        self._events += 1
        async with self.lifecycle.lock:
            waiting = (self.lifecycle.status == "waiting_on_customer"
                       and arrival.document.kind == self.state.awaited_document)
        if waiting and self._brings_awaited([arrival.document]):
            async with self._change("back_office", f"the customer sent the "
                                    f"{label(arrival.document.kind)}") as moving:
                if moving:
                    await self._create_check()
        return self._view()

    @document_arrived.validator
    def _may_bring(self, arrival: DocumentArrival) -> None:
        if arrival.by_role not in FOR_THE_CUSTOMER:
            refuse(NOT_ALLOWED, "only the customer's channels and support staff bring "
                                "documents")

    @customer_message.validator
    def _may_write(self, message: CustomerMessage) -> None:
        if message.by_role not in FOR_THE_CUSTOMER:
            refuse(NOT_ALLOWED, "only the customer's channels and support staff post "
                                "customer messages")
        if self.lifecycle.final:
            self.lifecycle.refuse("take a message")

    @workflow.update
    async def reply(self, reply: AgentReply) -> TicketView:
        """An agent answers: emailed to the customer; the first answer meets the first
        response target. Answering a ticket nobody has yet takes it."""
        self._events += 1
        if self.lifecycle.status in ("new", "queued"):
            async with self._change("open", f"{reply.by.name} took the ticket by answering it",
                                    by_user_id=reply.by.user_id) as moving:
                if moving:
                    self._assign(reply.by, tell=False)
                    await self._answer(reply.body, reply.by)
            if moving:
                return self._view()
        async with self.lifecycle.lock:
            if self.lifecycle.status not in WORKED_ON:
                self.lifecycle.refuse("be answered")
            self._only_its_agent(reply.by.user_id, reply.by_role, "answer")
            await self._answer(reply.body, reply.by)
        return self._view()

    @reply.validator
    def _may_reply(self, reply: AgentReply) -> None:
        self._only_its_agent(reply.by.user_id, reply.by_role, "answer")
        if self.lifecycle.status not in WORKED_ON:
            self.lifecycle.refuse(
                "be answered", "reopen it first")

    @workflow.update
    async def request_info(self, request: InfoRequest) -> TicketView:
        """The agent asks the customer for something: the ticket waits on the customer."""
        await self._opened()
        self._events += 1
        async with self._change("waiting_on_customer", f"asked the customer for {request.what}",
                                by_user_id=request.by.user_id) as moving:
            if not moving:
                self.lifecycle.refuse("wait on the customer")
            self.state.info_requests += 1
            self.state.check = request.check or (
                f"check the {label(request.document)}" if request.document else None)
            self.state.awaited_document, self.state.arrived = request.document, None
            await self._answer(request.what, request.by, info_request=True)
        return self._view()

    @request_info.validator
    def _may_request_info(self, request: InfoRequest) -> None:
        self._only_its_agent(request.by.user_id, request.by_role, "ask the customer")
        if not self._may_become("waiting_on_customer"):
            self.lifecycle.refuse(
                "wait on the customer", "only an open ticket can")

    @workflow.update
    async def assign(self, assignment: Assignment) -> TicketView:
        """A support lead gives the ticket to an agent (from the queue, or after a breach)."""
        self._events += 1
        agent, by = assignment.agent, assignment.by_user_id
        if self.lifecycle.status in ("new", "queued"):
            async with self._change("open", f"assigned to {agent.name}", by_user_id=by) as moving:
                if moving:
                    self._assign(agent)
            if moving:
                return self._view()
        async with self.lifecycle.lock:
            if self.lifecycle.status not in WORKED_ON:
                self.lifecycle.refuse("be assigned")
            self._assign(agent)
            await self._save()
        return self._view()

    @assign.validator
    def _may_assign(self, assignment: Assignment) -> None:
        if assignment.by_role not in LEADS:
            refuse(NOT_ALLOWED, "only support leads and admins assign tickets")
        if self.lifecycle.status not in WORKED_ON:
            self.lifecycle.refuse("be assigned")

    @workflow.update
    async def resolve(self, resolution: Resolution) -> TicketView:
        """The agent resolves the ticket: the customer gets the survey."""
        await self._opened()
        self._events += 1
        async with self._change("resolved", resolution.resolution,
                                by_user_id=resolution.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be resolved")
            self.state.resolution = resolution.resolution
            self.state.upheld = resolution.upheld
            self.state.resolved_by = resolution.by_user_id
            self.mail.to_customer("ticket_resolved", f"resolution_{self.state.resolutions}",
                                  "Send the customer the resolution and the survey",
                                  resolution=resolution.resolution,
                                  window=steps.describe(self.policy.reopen_window))
        return self._view()

    @resolve.validator
    def _may_resolve(self, resolution: Resolution) -> None:
        self._only_its_agent(resolution.by_user_id, resolution.by_role, "resolve")
        if not self._may_become("resolved"):
            self.lifecycle.refuse("be resolved")
        if self.state.open_tasks:
            refuse(MISSING_INFORMATION, "the ticket's back-office tasks must be done first",
                   missing=[f"task {task}" for task in self.state.open_tasks])
        if self.ticket.invoice_id is not None and resolution.upheld is None:
            refuse(MISSING_INFORMATION, f"ticket {self.ticket.ticket_id} is about invoice "
                   f"{self.ticket.invoice_id}: say whether the dispute is upheld",
                   missing=["upheld"])

    @workflow.update
    async def reopen(self, reopening: Reopening) -> TicketView:
        """The customer (or support for them) reopens a resolved ticket within the window."""
        self._events += 1
        async with self._change("open", f"reopened: {reopening.reason}",
                                by_user_id=reopening.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be reopened")
            self.state.reopenings += 1
        return self._view()

    @reopen.validator
    def _may_reopen(self, reopening: Reopening) -> None:
        if reopening.by_role not in FOR_THE_CUSTOMER:
            refuse(NOT_ALLOWED, "only the customer's channels and support staff reopen tickets")
        if self.lifecycle.status != "resolved":
            self.lifecycle.refuse(
                "be reopened", "only a resolved ticket can, within its reopen window")

    @workflow.update
    async def rate(self, rating: Rating) -> TicketView:
        """The customer rates the resolution (1 to 5): the ticket closes."""
        self._events += 1
        async with self._change("closed", f"rated {rating.score}/5 by the customer",
                                by_user_id=rating.by_user_id) as moving:
            if not moving:
                self.lifecycle.refuse("be rated")
            self.state.rating, self.state.rating_comment = rating.score, rating.comment
        return self._view()

    @rate.validator
    def _may_rate(self, rating: Rating) -> None:
        if rating.by_role not in (Role.INTEGRATION, Role.ADMIN):
            refuse(NOT_ALLOWED, "only the customer (through the website or mail) rates a ticket")
        if not 1 <= rating.score <= 5:
            refuse(MISSING_INFORMATION, "a rating is a score from 1 to 5", missing=["score"])
        if self.lifecycle.status != "resolved":
            self.lifecycle.refuse(
                "be rated", "only a resolved ticket can, within its reopen window")

    @workflow.signal(name=TASK_COMPLETED)
    def task_completed(self, done: TaskCompleted) -> None:
        """A back-office task of this ticket was completed (``POST /tasks/{id}/complete``)."""
        if done.task_id in self.state.open_tasks:
            self.state.open_tasks.remove(done.task_id)
            self._task_outcome = f"task {done.task_id} done: {done.outcome}"[:300]
            self._events += 1

    @workflow.query(name="state")
    def current_state(self) -> TicketView:
        return self._view()

    # Helpers -------------------------------------------------------------------------

    def _only_its_agent(self, user_id: int, role: str, doing: str) -> None:
        if role not in SUPPORT:
            refuse(NOT_ALLOWED, f"only support staff {doing} tickets")
        assignee = self.state.assignee
        if role == Role.SUPPORT_AGENT and assignee is not None and assignee.user_id != user_id:
            refuse(NOT_ALLOWED, f"ticket {self.ticket.ticket_id} is {assignee.name}'s; "
                                f"a support lead may reassign it")

    async def _opened(self) -> None:
        """A decision that came with the start (it was pending in the CRM) waits for the
        opening, which routes the ticket."""
        await workflow.wait_condition(lambda: self.lifecycle.status != "new")

    def _may_become(self, status: str) -> bool:
        """Whether the ticket may go to ``status``, or will once opened (open or queued)."""
        if self.lifecycle.status == "new":
            return any(status in TRANSITIONS[opened] for opened in TRANSITIONS["new"])
        return self.lifecycle.allows(status)

    @asynccontextmanager
    async def _change(
        self, to_status: str, reason: str, *, by_user_id: int | None = None
    ) -> AsyncIterator[bool]:
        """A guarded status change that also moves the SLA clocks and the ticket's dates."""
        async with self.lifecycle.change(to_status, reason, by_user_id=by_user_id) as moving:
            if not moving:
                yield False
                return
            before = copy.deepcopy(self.state)
            try:
                self.agenda.enter(self.state, before.status, to_status, workflow.now())
                yield True
            except BaseException:
                self.state = before
                self.mail.state = before
                raise
            await self._save()

    async def _move(self, to_status: str, reason: str) -> bool:
        async with self._change(to_status, reason) as moving:
            pass
        return moving

    def _recorded(self) -> None:
        """After each recorded change: the next one's key, the details shown."""
        self.state.status = self.lifecycle.status
        self.state.status_reason = self.lifecycle.last.reason
        self.state.changes += 1
        self.lifecycle.event_prefix = f"{self.state.changes + 1}:"
        self._show()

    def _assign(self, agent: Person, *, tell: bool = True) -> None:
        """The ticket is the agent's (CrmOwner); they are told, unless they took it."""
        self.state.assignee = agent
        self.state.assignments += 1
        workflow.upsert_search_attributes([CRM_OWNER.value_set(str(agent.user_id))])
        if tell:
            self.mail.to_staff(agent, "ticket_assigned", f"assigned_{self.state.assignments}",
                               f"Tell {agent.name} the ticket is theirs")

    async def _answer(self, body: str, by: Person, *, info_request: bool = False) -> None:
        """Record an agent's message and owe the customer its email; the first answer
        meets the first-response target."""
        self.state.replies += 1
        purpose = f"reply_{self.state.replies}"
        await self._record(TicketMessageToRecord(
            self.ticket.ticket_id, "agent", body, purpose, by.user_id,
            reply_email_purpose=purpose))
        first_response = self.state.clocks[0]
        if not first_response.stopped:
            first_response.stop(workflow.now(), self.calendar)
        self.mail.to_customer("ticket_info_request" if info_request else "ticket_reply",
                              purpose, f"Email {by.name}'s answer to the customer",
                              body=body, agent_name=by.name)
        await self._save()

    async def _record_customer(self, message: CustomerMessage) -> None:
        self.state.messages += 1
        await self._record(TicketMessageToRecord(
            self.ticket.ticket_id, "customer", message.body, f"message_{self.state.messages}",
            email_message_id=message.email_message_id))
        if message.email_message_id:
            self.state.customer_message_id = message.email_message_id

    async def _record(self, message: TicketMessageToRecord) -> None:
        await steps.write(
            RECORD_TICKET_MESSAGE, message,
            summary=f"Record the {message.author}'s message ({message.purpose})",
        )

    async def _create_check(self) -> None:
        check = self.state.check or "check what the customer sent"
        arrived, self.state.check, self.state.awaited_document = self.state.arrived, None, None
        assignee = self.state.assignee
        task = await steps.create_task(TaskToCreate(
            kind="ticket_check",
            title=f"Ticket {self.ticket.ticket_id}: {check}",
            purpose=f"check_{self.state.info_requests}",
            assignee_id=assignee.user_id if assignee else None,
            description=(f"The {label(arrived.kind)} the customer sent: {arrived.name} "
                         f"(/files/{arrived.file_id})" if arrived else None),
            related_type="ticket",
            related_id=self.ticket.ticket_id,
        ))
        self.state.open_tasks.append(task.task_id)

    async def _leads(self) -> list[Person]:
        return await workflow.execute_local_activity(
            FIND_PEOPLE,
            PeopleToFind([Role.SUPPORT_LEAD.value]),
            result_type=list[Person],
            start_to_close_timeout=steps.DATABASE_READ,
            retry_policy=steps.RETRY_FOREVER_GENTLY,
            summary="Find the support leads",
        )

    async def _save(self) -> None:
        """Keep the ticket's row in step with the process (assignee, priority, SLA dates)."""
        async with self._saving:
            facts = self.agenda.facts(self.state)
            if not patches.patched(patches.BREACHES_KEPT):  # a run from before: as it was
                facts = dataclasses.replace(facts, first_response_breached_at=None,
                                            resolution_breached_at=None)
            if facts == self._saved:
                return
            await steps.write(
                SAVE_TICKET, facts,
                summary=f"Keep ticket {self.ticket.ticket_id}'s assignee, priority and SLA "
                        f"dates",
            )
            self._saved = facts

    def _carried(self) -> TicketState:
        return dataclasses.replace(self.state, status=self.lifecycle.status,
                                   status_reason=self.lifecycle.last.reason)

    def _view(self) -> TicketView:
        return self.agenda.view(self.state, self.lifecycle.status, self.lifecycle.last.reason,
                                workflow.now())

    def _show(self) -> None:
        """What the Temporal UI says this process is doing now."""
        doing = self.agenda.doing(self.state, self.lifecycle.status, self.lifecycle.last.reason,
                                  workflow.now())
        workflow.set_current_details(
            f"Ticket {self.ticket.ticket_id} ({self.state.priority}): {doing}")
