"""A ticket in the console: its SLA clocks, the conversation with the customer, and what
support does — answer, ask the customer for something, assign (leads), resolve (saying
whether a disputed invoice's customer was right), reopen — each through the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter

from api.console.backend import Refused
from api.console.forms import Fields, action, field, text, yes_no
from api.console.pages import PageDep, case, case_actions
from api.console.views import Page, Said, when
from api.lookups import ObjectId
from workflows.registry import SUPPORT_TICKET
from workflows.support_ticket import LEADS, SUPPORT, TRANSITIONS, WORKED_ON

router = APIRouter(prefix="/console", include_in_schema=False)
DURATION = TypeAdapter(timedelta)
LATE = ("breached", "missed")
RUNNING = ("running", "paused", "breached")
"""The clocks whose working time left still means something (not met or missed)."""


def working(time: timedelta) -> str:
    """Working time, in hours: '15 h 59 min', '40 h', '25 min'."""
    minutes = int(time.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * bool(minutes)
    return " ".join(parts) or "0 min"


def clocks(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The SLA clocks as people read them: in what state, due when, how much working time
    is left of the target."""
    shown = []
    for clock in ticket["clocks"]:
        left = DURATION.validate_python(clock["remaining"]) if clock["remaining"] else None
        target = DURATION.validate_python(clock["target"]) if clock["target"] else None
        said = [f"due {when(clock['due_at'])}" if clock["due_at"] else ""]
        if left is not None and clock["state"] in RUNNING:
            said.append(f"overdue by {working(-left)}" if left < timedelta(0)
                        else f"{working(left)} of working time left")
        said.append(f"target {working(target)}" if target is not None else "")
        shown.append({
            "name": clock["name"].replace("_", " ").capitalize(), "state": clock["state"],
            "said": " · ".join(part for part in said if part),
            "late": clock["state"] in LATE or (left is not None and left < timedelta(0)),
        })
    return shown


def offered(ticket: dict[str, Any], me: dict[str, Any]) -> list[dict[str, Any]]:
    """What the ticket's status leads to (its process's own table) and the role allows; an
    agent acts on their own (or unassigned) tickets. The API decides in the end."""
    url, status, role = f"/console/tickets/{ticket['id']}", ticket["status"], me["role"]
    goes = TRANSITIONS.get(status, ())
    works_it = role in LEADS or (role in SUPPORT and ticket["assignee_id"] in (None, me["id"]))
    found = []
    if works_it and status in WORKED_ON and status != "new":
        found.append(action(f"{url}/answer", "Send the answer",
                            field("body", "Your answer", "textarea",
                                  hint="Emailed to the customer in the ticket's thread."),
                            legend="Answer the customer"))
    if works_it and "waiting_on_customer" in goes:
        found.append(action(f"{url}/request-info", "Ask the customer",
                            field("what", "What the customer should send", "textarea"),
                            field("check", "Back-office check once it arrives", required=False,
                                  hint="For example: check the proof document."),
                            field("document", "Document to wait for", required=False,
                                  hint="A word such as proof_of_address: only a file of that "
                                       "kind resumes the ticket."),
                            legend="Request information"))
    if role in LEADS and status in WORKED_ON:
        found.append(action(f"{url}/assign", "Assign",
                            field("agent_id", "Agent's user id", "number", min="1",
                                  value=str(ticket["assignee_id"] or "")),
                            legend="Give the ticket to an agent"))
    if works_it and "resolved" in goes:
        verdict = [field("upheld", "Was the customer right about the invoice?", "choice",
                         options=[("yes", "Yes: credit the open balance"),
                                  ("no", "No: the invoice's reminders resume")])
                   ] if ticket["invoice_id"] else []
        found.append(action(f"{url}/resolve", "Resolve",
                            field("resolution", "Resolution", "textarea"), *verdict,
                            legend="Resolve the ticket"))
    if role in SUPPORT and status == "resolved" and "open" in goes:
        found.append(action(f"{url}/reopen", "Reopen", field("reason", "Why", "textarea"),
                            legend="Reopen the ticket"))
    return found


async def ticket_page(page: Page, ticket_id: int, said: Said | None = None,
                      status_code: int = 200, posted: tuple[str, Fields] | None = None
                      ) -> HTMLResponse:
    ticket = await page.backend.get(f"/tickets/{ticket_id}")
    me = await page.me()
    who = ticket["requester_name"] or ""
    agent = ticket["assignee_id"]
    facts = [f"From {who} <{ticket['requester_email']}> by {ticket['channel']} · "
             f"{ticket['category']} · priority {ticket['priority']}",
             ("Assigned to you" if agent == me["id"] else f"Assigned to user {agent}")
             if agent else "Not assigned: in the team queue"]
    if ticket["waiting_for"]:
        facts.append(f"Now: {ticket['waiting_for']}")
    if ticket["closes_at"]:
        facts.append(f"Closes {when(ticket['closes_at'])} unless reopened or rated")
    if ticket["rating"]:
        facts.append(f"Rated {ticket['rating']}/5" + (f": {ticket['rating_comment']}"
                                                      if ticket["rating_comment"] else ""))
    try:  # the outbox is the admins' to read; others see the conversation
        ticket["emails"] = await page.backend.get("/emails", related_type="ticket",
                                                  related_id=ticket_id)
    except Refused as refusal:
        if refusal.status != 403:
            raise
    return await case(page, "ticket", ticket_id, SUPPORT_TICKET, ticket, ticket=ticket,
                      title=f"Ticket {ticket_id}", section="tickets",
                      heading=f"Ticket {ticket_id}: {ticket['subject']}", facts=facts,
                      clocks=clocks(ticket), actions=offered(ticket, me),
                      parts=["_ticket.html.j2"], said=said, status_code=status_code,
                      posted=posted)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
async def ticket_case(page: PageDep, ticket_id: ObjectId) -> HTMLResponse:
    return await ticket_page(page, ticket_id)


def _agent(fields: Fields) -> int | str | None:
    given = text(fields, "agent_id")
    return int(given) if given and given.isdigit() else given


case_actions(router, "tickets", ticket_page, [
    ("answer", "messages", "answer", lambda f: {"from": "agent", "body": text(f, "body")}),
    ("request-info", "request-info", "request-info",
     lambda f: {"what": text(f, "what"), "check": text(f, "check"),
                "document": text(f, "document")}),
    ("assign", "assign", "assign", lambda f: {"agent_id": _agent(f)}),
    ("resolve", "resolve", "resolve",
     lambda f: {"resolution": text(f, "resolution"), "upheld": yes_no(f, "upheld")}),
    ("reopen", "reopen", "reopen", lambda f: {"reason": text(f, "reason")}),
])
