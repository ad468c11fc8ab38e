"""Email into support: the mail system posts each message to the support address here.

An answer to a ticket (its subject names the ticket, or it replies to one of the ticket's
emails) from the ticket's customer becomes a customer message on it; anything else — a new
request, or an answer to a ticket already closed — opens a ticket. Its attachments land on
that ticket (those the CRM does not keep are said in the answer). The same email posted
twice (the same Message-ID) is taken once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response, status
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError

from api import processes
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep
from api.idempotency import OnceDep, Replay
from api.problems import invalid
from crm import launcher
from crm.errors import Conflict
from crm.mail_in import InboundEmail, NotAnEmail, parse_email
from crm.models import StoredFile, Ticket
from crm.repo import files, tickets
from crm.support import NewTicket, record_ticket
from workflows.registry import SUPPORT_TICKET
from workflows.support_ticket import SupportTicket
from workflows.support_types import ArrivedDocument, CustomerMessage

router = APIRouter(tags=["tickets"])
RawEmail = Annotated[bytes, Body(media_type="message/rfc822",
                                 description="The raw RFC 5322 message, as received")]


class RefusedAttachment(BaseModel):
    name: str
    reason: str


class InboundOut(BaseModel):
    outcome: Literal["opened", "message_added", "duplicate"]
    ticket_id: int
    process_id: str
    attachments_refused: list[RefusedAttachment] = []
    """The files attached that the CRM does not keep (too large, of a kind not kept)."""


@router.post("/inbound/email", status_code=status.HTTP_201_CREATED, response_model=InboundOut,
             responses={200: {"description": "Added to an open ticket, or already taken"}})
async def inbound_email(
    raw: RawEmail, response: Response, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, policies: PoliciesDep, once: OnceDep,
) -> Any:
    """A message to the support address: threaded into its ticket, or a new ticket."""
    if (kept := await once.answered(session)) is not None:
        if kept.workflow_id:
            await launcher.resume(session, client, state.settings, kept.workflow_id)
        return Replay(kept).response()
    try:
        mail = parse_email(raw)
    except NotAnEmail as error:
        raise _unreadable(str(error)) from error
    if mail.message_id is not None:
        taken = await tickets.ticket_of_emails(session=session, message_ids=[mail.message_id],
                                               sent_too=False)
        if taken is not None:
            response.status_code = status.HTTP_200_OK
            return _answer("duplicate", taken)
    ticket = await _ticket_answered(session, mail)
    if ticket is not None:
        ticket_id = ticket.id
        carried, refused = await _attach(session, state, ticket_id, mail,
                                         ticket.awaited_document)
        await session.commit()
        handle = client.get_workflow_handle(SUPPORT_TICKET.workflow_id(ticket_id))
        try:
            await processes.decide(
                state.settings, handle, SupportTicket.customer_message,
                CustomerMessage(mail.text, user.role, user.id, mail.message_id,
                                [ArrivedDocument(f.id, f.name, f.kind) for f in carried]),
                update_id=None, when_ended=lambda: Conflict(f"ticket {ticket_id} has closed"),
            )
        except Conflict:  # closed meanwhile: the email opens a new ticket
            pass
        else:
            response.status_code = status.HTTP_200_OK
            answer = _answer("message_added", ticket_id, refused)
            await once.keep(session, status.HTTP_200_OK, answer)
            return answer
    await once.claim(session)
    try:
        async with session.begin_nested():
            opened, start = await record_ticket(session, state.settings, policies, NewTicket(
                mail.sender, mail.topic, mail.text, channel="email",
                contact_name=mail.sender_name, message_id=mail.message_id))
            _, refused = await _attach(session, state, opened.id, mail)
    except IntegrityError:  # the same email, delivered twice at once: the other one took it
        taken = await tickets.ticket_of_emails(session=session, sent_too=False,
                                               message_ids=[mail.message_id or ""])
        assert taken is not None
        response.status_code = status.HTTP_200_OK
        return _answer("duplicate", taken)
    answer = _answer("opened", opened.id, refused)
    await once.keep(session, status.HTTP_201_CREATED, answer, workflow_id=start.workflow_id)
    await session.commit()
    await launcher.launch(session, client, state.settings, start, fresh=True,
                          marks=state.start_marks)
    return answer


async def _ticket_answered(session: SessionDep, mail: InboundEmail) -> Ticket | None:
    """The open ticket this email answers, if its customer wrote it."""
    ticket_id = (await tickets.ticket_of_emails(session=session, message_ids=mail.answers)
                 or mail.ticket_number)
    if ticket_id is None:
        return None
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or ticket.status == "closed" or ticket.requester_email != mail.sender:
        return None
    return ticket


async def _attach(session: SessionDep, state: StateDep, ticket_id: int, mail: InboundEmail,
                  kind: str | None = None) -> tuple[list[StoredFile], list[dict[str, str]]]:
    return await files.attach_mailed(session=session, store=state.files,
                                     settings=state.settings, object_type="ticket",
                                     object_id=ticket_id, attachments=mail.attachments,
                                     kind=kind)


def _answer(outcome: Literal["opened", "message_added", "duplicate"], ticket_id: int,
            refused: list[dict[str, str]] | None = None) -> InboundOut:
    return InboundOut(outcome=outcome, ticket_id=ticket_id,
                      process_id=SUPPORT_TICKET.workflow_id(ticket_id),
                      attachments_refused=[RefusedAttachment(**r) for r in refused or []])


def _unreadable(why: str) -> Exception:
    return invalid("message", f"not an email the support desk can read: {why}")
