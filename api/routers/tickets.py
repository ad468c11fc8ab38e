"""Tickets: opened by customers (website, chatbot, email) or agents, each followed by its
support process; agents answer, ask, resolve; leads assign; customers rate or reopen."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import ConfigDict, EmailStr, Field, field_validator
from sqlalchemy.exc import IntegrityError

from api import decisions
from api.access import OWN, GrantDep
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep
from api.idempotency import OnceDep, Replay
from api.inputs import DOCUMENT_KIND, Filter, Id, In, Offset, Paragraphs, SingleLine
from api.lookups import TicketDep
from api.problems import invalid
from api.ticket_views import (
    QUERY_DEADLINE,
    TicketDetail,
    TicketOut,
    detail,
    process_view,
    summary,
)
from crm import launcher
from crm.errors import Conflict, CrmError, Forbidden
from crm.models import Invoice, Ticket, User
from crm.repo import tickets
from crm.support import NewTicket, record_ticket
from workflows.contracts import Person
from workflows.registry import SUPPORT_TICKET
from workflows.roles import Role
from workflows.support_ticket import SUPPORT, SupportTicket
from workflows.support_types import (
    AgentReply,
    Assignment,
    CustomerMessage,
    InfoRequest,
    Rating,
    Reopening,
    Resolution,
)

router = APIRouter(tags=["tickets"])
Text = Annotated[Paragraphs, Field(min_length=1, max_length=20000)]


class TicketIn(In):
    contact_email: EmailStr
    contact_name: Annotated[SingleLine, Field(max_length=200)] | None = None
    subject: Annotated[SingleLine, Field(max_length=200)]
    body: Text
    channel: Literal["web", "chat", "email", "phone", "agent"] = "web"
    category: str = Field("general", pattern=r"^[a-z][a-z_]{0,63}$",
                          description="One of the support policy's categories (`GET /policies`); "
                          "routing matches it to the agents' skills")
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    invoice_id: Id | None = Field(None, description="A billing ticket about this invoice")

    @field_validator("contact_email")
    @classmethod
    def _one_spelling(cls, email: str) -> str:
        return email.lower()


class MessageIn(In):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", str_strip_whitespace=True)

    body: Text
    author: Literal["customer", "agent"] = Field(alias="from")


class InfoRequestIn(In):
    what: Annotated[Paragraphs, Field(min_length=1, max_length=2000,
                                      description="What the customer must send")]
    check: Annotated[SingleLine, Field(max_length=300, description="A back-office task to do "
                     "once it arrives, e.g. 'check the proof document'")] | None = None
    document: Annotated[str, Field(max_length=64, pattern=DOCUMENT_KIND, description=(
        "A kind of document to wait for (proof_of_address): only a file of that kind, "
        "uploaded or attached to the customer's email, resumes the ticket"))] | None = None


class AssignIn(In):
    agent_id: Id


class ResolveIn(In):
    resolution: Annotated[Paragraphs, Field(min_length=1, max_length=5000)]
    upheld: bool | None = Field(None, description="For a disputed invoice's ticket: was the "
                                "customer right? (credit note; otherwise dunning resumes)")


class ReopenIn(In):
    reason: Annotated[Paragraphs, Field(min_length=1, max_length=2000)]


class RatingIn(In):
    score: int = Field(ge=1, le=5)
    comment: Annotated[Paragraphs, Field(max_length=2000)] | None = None


@router.post("/tickets", status_code=status.HTTP_201_CREATED, response_model=TicketDetail)
async def open_ticket(
    body: TicketIn, session: SessionDep, user: CurrentUser, client: TemporalDep,
    state: StateDep, policies: PoliciesDep, once: OnceDep,
) -> Any:
    """Open a ticket and start its process: the customer is acknowledged at once, the ticket
    routed to an agent. Send an ``Idempotency-Key`` to retry safely."""
    if (kept := await once.answered(session)) is not None:
        if kept.workflow_id:
            await launcher.resume(session, client, state.settings, kept.workflow_id)
        return Replay(kept).response()
    known = policies.support.categories
    if body.category not in known:
        raise invalid("category", f"no ticket category {body.category!r}; the support "
                      f"policy's categories: {', '.join(known)}")
    await once.claim(session)
    if body.invoice_id is not None:
        if await session.get(Invoice, body.invoice_id) is None:
            raise invalid("invoice_id", f"no invoice {body.invoice_id}")
        await _no_open_ticket_about(session, body.invoice_id)
    staff = user.role != Role.INTEGRATION
    try:
        async with session.begin_nested():
            ticket, start = await record_ticket(session, state.settings, policies, NewTicket(
                body.contact_email, body.subject, body.body, body.channel, body.category,
                body.priority, body.contact_name, invoice_id=body.invoice_id,
                by_user_id=user.id if staff else None))
    except IntegrityError:  # a ticket about the same invoice, opened at the same moment
        if body.invoice_id is not None:
            await _no_open_ticket_about(session, body.invoice_id)
        raise
    answer = await detail(session, ticket.id, None)
    await once.keep(session, status.HTTP_201_CREATED, answer, workflow_id=start.workflow_id)
    await session.commit()
    await launcher.launch(session, client, state.settings, start, fresh=True,
                          marks=state.start_marks)
    return answer


async def _no_open_ticket_about(session: SessionDep, invoice_id: int) -> None:
    """An invoice has one open ticket at a time (its dispute): a second one is refused."""
    if (open_one := await tickets.open_dispute_of(session=session, invoice_id=invoice_id)):
        raise Conflict(f"invoice_id: invoice {invoice_id} already has an open ticket, "
                       f"{open_one.id}; add to it instead (POST /tickets/{open_one.id}/messages)")


@router.get("/tickets", response_model=list[TicketOut])
async def list_tickets(
    session: SessionDep,
    grant: GrantDep,
    queue: Annotated[tickets.Queue, Query(
        description="mine, team (my team's and the unassigned), unassigned, breaching "
                    "(a running target due within `within_hours`), all (all I may read)")]
    = "all",
    status: Annotated[Filter | None, Query(max_length=40)] = None,
    category: Annotated[Filter | None, Query(max_length=64)] = None,
    within_hours: Annotated[float, Query(gt=0, le=24 * 30)] = 4,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    rows = await tickets.list_tickets(
        session=session, user=grant.user, within=grant.where(Ticket), queue=queue,
        status=status, category=category,
        breaching_within=timedelta(hours=within_hours), limit=limit, offset=offset)
    return [summary(t) for t in rows]


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
async def get_ticket(ticket: TicketDep, session: SessionDep, state: StateDep) -> Any:
    """The ticket with its messages, SLA clocks, tasks and status history."""
    ticket_id, view = ticket.id, None
    await session.commit()  # the process may be writing the ticket: don't hold the database
    with contextlib.suppress(Exception):  # Temporal away: the ticket shows from the database
        client = await asyncio.wait_for(state.temporal.client(), QUERY_DEADLINE)
        view = await process_view(client, state.settings, ticket_id)
    return await detail(session, ticket_id, view)


async def _drive(
    session: SessionDep, ticket: Ticket, client: TemporalDep, state: StateDep, once: OnceDep,
    update: Any, arg: Any,
) -> Any:
    """Hand a message or decision to the ticket's process; answer with the ticket."""
    ticket_id = ticket.id

    async def ended() -> CrmError:
        current = await session.get(Ticket, ticket_id, populate_existing=True)
        return Conflict(f"ticket {ticket_id} is {current.status if current else 'gone'}: its "
                        f"process has ended; write to support again to open a new ticket")

    async def answer(view: Any) -> Any:
        return await detail(session, ticket_id, view)

    return await decisions.decide(session, client, state.settings, once,
                                  SUPPORT_TICKET.workflow_id(ticket_id), update, arg,
                                  ended=ended, answer=answer)


def _person(user: User) -> Person:
    return Person(user.id, user.name, user.email)


@router.post("/tickets/{ticket_id}/messages", response_model=TicketDetail)
async def post_message(
    ticket: TicketDep, body: MessageIn, session: SessionDep, grant: GrantDep,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """A customer message (from the website, chatbot, or support writing down a call), or an
    agent's answer, which is emailed to the customer in the ticket's thread: support staff
    answer the tickets they may work on (an agent: theirs or nobody's yet)."""
    user = grant.user
    if body.author == "customer":
        return await _drive(session, ticket, client, state, once, SupportTicket.customer_message,
                            CustomerMessage(body.body, user.role, user.id))
    if user.role not in SUPPORT:
        raise Forbidden("only support staff answer as an agent")
    if user.role == Role.SUPPORT_AGENT:
        await replace(grant, scope=OWN).check(session, Ticket, ticket.id, f"ticket {ticket.id}")
    return await _drive(session, ticket, client, state, once, SupportTicket.reply,
                        AgentReply(body.body, _person(user), user.role))


@router.post("/tickets/{ticket_id}/request-info", response_model=TicketDetail)
async def request_info(
    ticket: TicketDep, body: InfoRequestIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """Ask the customer for something: the ticket waits on the customer (clock paused)."""
    return await _drive(session, ticket, client, state, once, SupportTicket.request_info,
                        InfoRequest(body.what, _person(user), user.role, body.check,
                                    body.document))


@router.post("/tickets/{ticket_id}/assign", response_model=TicketDetail)
async def assign(
    ticket: TicketDep, body: AssignIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """A support lead gives the ticket to an agent."""
    agent = await session.get(User, body.agent_id)
    if agent is None or not agent.active or agent.role not in (Role.SUPPORT_AGENT,
                                                               Role.SUPPORT_LEAD):
        raise invalid("agent_id", f"no active support agent {body.agent_id}")
    return await _drive(session, ticket, client, state, once, SupportTicket.assign,
                        Assignment(_person(agent), user.id, user.role))


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketDetail)
async def resolve(
    ticket: TicketDep, body: ResolveIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """Resolve the ticket: the customer gets the satisfaction survey."""
    return await _drive(session, ticket, client, state, once, SupportTicket.resolve,
                        Resolution(body.resolution, user.id, user.role, body.upheld))


@router.post("/tickets/{ticket_id}/reopen", response_model=TicketDetail)
async def reopen(
    ticket: TicketDep, session: SessionDep, user: CurrentUser, client: TemporalDep,
    state: StateDep, once: OnceDep, body: ReopenIn | None = None,
) -> Any:
    """Reopen a resolved ticket within its reopen window."""
    reason = body.reason if body else "reopened by the customer"
    return await _drive(session, ticket, client, state, once, SupportTicket.reopen,
                        Reopening(reason, user.role, user.id))


@router.post("/tickets/{ticket_id}/rating", response_model=TicketDetail)
async def rate(
    ticket: TicketDep, body: RatingIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, once: OnceDep,
) -> Any:
    """The customer's rating of a resolved ticket (1 to 5): it closes."""
    return await _drive(session, ticket, client, state, once, SupportTicket.rate,
                        Rating(body.score, user.role, body.comment, user.id))

