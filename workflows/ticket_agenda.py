"""A ticket's state read and moved by pure rules: what a status change does to its SLA
clocks and dates, when the process must next act by itself, what the ticket is at (the
current details, the ticket view), and what its CRM row keeps.

No I/O and no clock of its own (the workflow passes ``workflow.now()``), so the workflow
module keeps to the process: messages, decisions and the activities they cause.
"""

from __future__ import annotations

from datetime import datetime

from workflows import business_time, steps
from workflows.support_types import SupportTicketInput, TicketFacts, TicketState, TicketView


class TicketAgenda:
    def __init__(self, ticket: SupportTicketInput) -> None:
        self.ticket = ticket
        self.policy = ticket.policy
        self.calendar = ticket.calendar

    def enter(self, state: TicketState, came_from: str, status: str, now: datetime) -> None:
        """A status change's effect: waiting pauses the clocks, an answer or a reopening
        restarts them, resolving or closing stops them; the dates follow."""
        if status == "waiting_on_customer":
            for clock in state.clocks:
                clock.pause(now, self.calendar)
            state.waits += 1
            state.waiting_since, state.reminders = now, 0
        elif status in ("open", "back_office") and came_from in ("waiting_on_customer",
                                                                "resolved"):
            for clock in state.clocks:
                if not clock.running and (not clock.stopped or clock.name == "resolution"):
                    clock.start(now, self.calendar, self.policy.breach_warning_pct)
            state.waiting_since = state.resolved_at = None
        elif status in ("resolved", "closed"):
            for clock in state.clocks:
                clock.stop(now, self.calendar)
            state.waiting_since = None
            if status == "resolved":
                state.resolutions += 1
                state.resolved_at = now
            else:
                state.closed_at = now

    def reminder_due(self, state: TicketState) -> datetime:
        """When the customer gets the next reminder (while waiting on them)."""
        assert state.waiting_since is not None
        return state.waiting_since + (state.reminders + 1) * self.policy.waiting_reminder

    def silence_ends(self, state: TicketState) -> datetime:
        """When a ticket waiting on a silent customer closes."""
        assert state.waiting_since is not None
        return state.waiting_since + self.policy.auto_close_after

    def closes_at(self, state: TicketState) -> datetime | None:
        """When a resolved ticket closes unless it is reopened or rated first."""
        if state.resolved_at is None:
            return None
        return state.resolved_at + self.policy.reopen_window

    def next_alarm(self, state: TicketState, status: str) -> tuple[datetime, str] | None:
        """The next instant the process must act by itself, and what it waits for then."""
        alarms = []
        for clock in state.clocks:
            if (alarm := clock.next_alarm()) is not None:
                label = clock.name.replace("_", " ")
                alarms.append((alarm[0], f"SLA: {label} {alarm[1]} at {self.at(alarm[0])}"))
        if status == "waiting_on_customer" and state.waiting_since is not None:
            close_at, reminder_at = self.silence_ends(state), self.reminder_due(state)
            if reminder_at < close_at:
                alarms.append((reminder_at, f"Wait for the customer: reminder "
                                            f"{state.reminders + 1} at {self.at(reminder_at)}"))
            alarms.append((close_at, f"Wait for the customer: closes {self.at(close_at)}, "
                                     f"after {steps.describe(self.policy.auto_close_after)} "
                                     f"of silence"))
        if status == "resolved" and (closes_at := self.closes_at(state)) is not None:
            alarms.append((closes_at, f"Wait for a rating or a reopening "
                                      f"({steps.describe(self.policy.reopen_window)})"))
        return min(alarms, default=None)

    def doing(self, state: TicketState, status: str, reason: str, now: datetime) -> str:
        """What the ticket is at: 'waiting on the customer since Tue 14:02; resolution on
        hold (5 h of working time left)'."""
        at = self.at
        if status == "closed":
            return f"closed ({reason})"
        if status == "resolved":
            return (f"resolved {at(state.resolved_at)}; closes {at(self.closes_at(state))} "
                    f"unless reopened or rated")
        doing = {
            "new": "being routed",
            "queued": "in the team queue",
            "open": f"with {state.assignee.name}" if state.assignee else "open",
            "waiting_on_customer": f"waiting on the customer since {at(state.waiting_since)}"
                                   + (f" for the {label(state.awaited_document)}"
                                      if state.awaited_document else ""),
            "back_office": "waiting for back-office task "
                           + ", ".join(str(t) for t in state.open_tasks),
        }[status]
        return f"{doing}; {self._clock_line(state, now)}" if state.clocks else doing

    def _clock_line(self, state: TicketState, now: datetime) -> str:
        first_response, resolution = state.clocks
        clock = resolution if first_response.stopped else first_response
        label = clock.name.replace("_", " ")
        if clock.breached_at is not None:
            return f"{label} overdue since {self.at(clock.breached_at)}"
        if clock.running:
            return f"{label} due {self.at(clock.due_at)}"
        left = business_time.describe(clock.remaining(now, self.calendar))
        return f"{label} on hold ({left} of working time left)"

    def view(self, state: TicketState, status: str, reason: str, now: datetime) -> TicketView:
        """The ticket as the ``state`` query and the updates answer it."""
        return TicketView(
            status=status,
            status_reason=reason,
            priority=state.priority,
            assignee_id=state.assignee.user_id if state.assignee else None,
            waiting_for=self.doing(state, status, reason, now),
            clocks=[clock.view(now, self.calendar) for clock in state.clocks],
            open_tasks=list(state.open_tasks),
            reopenings=state.reopenings,
            closes_at=self.closes_at(state) if status == "resolved" else None,
            rating=state.rating,
            awaited_document=state.awaited_document,
        )

    def facts(self, state: TicketState) -> TicketFacts:
        """What the ticket's row keeps besides its status."""
        first_response, resolution = state.clocks
        return TicketFacts(
            ticket_id=self.ticket.ticket_id,
            priority=state.priority,
            assignee_id=state.assignee.user_id if state.assignee else None,
            first_response_due=first_response.due_at,
            resolution_due=resolution.due_at,
            first_responded_at=first_response.stopped_at,
            waiting_since=state.waiting_since,
            escalated_at=state.escalated_at,
            resolved_at=state.resolved_at,
            closed_at=state.closed_at,
            resolution=state.resolution,
            dispute_upheld=state.upheld,
            rating=state.rating,
            rating_comment=state.rating_comment,
            reopenings=state.reopenings,
            first_response_breached_at=first_response.breached_at,
            resolution_breached_at=resolution.breached_at,
            awaited_document=state.awaited_document,
        )

    def at(self, instant: datetime | None) -> str:
        """An instant on the support team's wall clock, as in 'Tue 14:02'."""
        return self.calendar.local(instant).strftime("%a %H:%M") if instant else "?"


def label(kind: str | None) -> str:
    """A document's kind as said: proof_of_address → proof of address."""
    return (kind or "document").replace("_", " ")
