"""The steps of your own workflows that change the CRM: a status asked of the object's own
process, a field written, a support ticket opened. Each answers a :class:`StepDone`: done,
or refused with the reason the enrolment's history shows (the process's own refusal, a
value too long, an object without a person); Temporal unreachable raises, and the activity
is tried again.

A status is never written here: it is asked of the process that owns it, through the update
a person would use, on the word of whoever published the version the enrolment runs, so the
process's rules (who may, from which status) hold for a workflow as for a person.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client, RPCTimeoutOrCancelledError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from crm import launcher
from crm.errors import ServiceUnavailable
from crm.models import DefinitionVersion, TicketMessage, User
from crm.own import enrolments
from crm.policies import Policies
from crm.repo import own
from crm.settings import Settings
from crm.support import NewTicket, record_ticket
from workflows.dunning_types import WriteOff
from workflows.invoice_dunning import InvoiceDunning
from workflows.lead_to_sale import LeadToSale
from workflows.lead_types import Qualification
from workflows.own.contracts import FieldToSet, StatusToSet, StepDone, TicketToOpen
from workflows.own.objects import OBJECTS
from workflows.project_types import Cancellation
from workflows.registry import INVOICE_DUNNING, LEAD_TO_SALE, SALE_TO_PROJECT, SUPPORT_TICKET
from workflows.sale_to_project import SaleToProject
from workflows.support_ticket import SupportTicket
from workflows.support_types import Resolution


async def publisher(session: AsyncSession, enrolment_id: int) -> User | None:
    """Who published the version the enrolment runs: a step acts on their word."""
    enrolment = await enrolments.get(session=session, enrolment_id=enrolment_id)
    user_id = await session.scalar(select(DefinitionVersion.published_by_id).where(
        DefinitionVersion.definition_id == enrolment.definition_id,
        DefinitionVersion.version == enrolment.version))
    return await session.get(User, user_id) if user_id else None


async def _asked(session: AsyncSession, change: StatusToSet, by: User) -> tuple[str, Any, Any]:
    """The object's process, the update that leads to the status, and its argument."""
    row = await own.object_row(session, change.object_type, change.object_id)
    reason, who = change.reason, (by.id, by.role)
    match change.object_type, change.status:
        case "lead", "qualified":
            return (LEAD_TO_SALE.workflow_id(row.id), LeadToSale.qualify,
                    Qualification(True, *who, reason, need=row.need, budget=row.budget))
        case "lead", "disqualified":
            return (LEAD_TO_SALE.workflow_id(row.id), LeadToSale.qualify,
                    Qualification(False, *who, reason))
        case "ticket", "resolved":
            return (SUPPORT_TICKET.workflow_id(row.id), SupportTicket.resolve,
                    Resolution(reason, *who))
        case "invoice", "written_off":
            return (INVOICE_DUNNING.workflow_id(row.id), InvoiceDunning.write_off,
                    WriteOff(reason, *who))
        case "project", "cancelled":
            return (SALE_TO_PROJECT.workflow_id(row.sale_id), SaleToProject.cancel,
                    Cancellation(reason, *who))
    raise ValueError(f"no step sets a {change.object_type} {change.status}")  # checked before


async def set_status(session: AsyncSession, client: Client, settings: Settings,
                     change: StatusToSet) -> StepDone:
    """Ask the object's process for the status, once (the update's id is the step's)."""
    name = f"{change.object_type} {change.object_id}"
    by = await publisher(session, change.enrolment_id)
    if by is None or not by.active:
        return StepDone(False, f"a status is asked on the word of the person who published "
                               f"the version, and {by.name if by else 'nobody'} is no "
                               f"longer active")
    workflow_id, update, argument = await _asked(session, change, by)
    await launcher.resume(session, client, settings, workflow_id)
    await session.commit()
    handle = client.get_workflow_handle(workflow_id)
    try:
        await handle.execute_update(update, argument, id=change.decision,
                                    rpc_timeout=launcher.deadline(settings))
    except WorkflowUpdateFailedError as error:
        cause = error.cause
        said = cause.message if isinstance(cause, ApplicationError) else str(cause)
        return StepDone(False, f"{name}: its process refused: {said}")
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise ServiceUnavailable(f"{name}'s process does not answer") from error
        row = await own.object_row(session, change.object_type, change.object_id)
        await session.refresh(row)
        return StepDone(False, f"{name} is {row.status}: no process of it runs to ask")
    except RPCTimeoutOrCancelledError as error:
        raise ServiceUnavailable(f"{name}'s process does not answer in time") from error
    return StepDone(True, f"{name} is {change.status}, asked of its process on the word of "
                          f"{by.name}")


async def set_field(session: AsyncSession, client: Client, settings: Settings,
                    policies: Policies, change: FieldToSet) -> StepDone:
    """Write the field; when it changed, enrol the object in the workflows its change
    triggers, then tell its running enrolments (a retry finds it written and tells again:
    harmless, and starts what the first attempt recorded but did not)."""
    kind = OBJECTS[change.object_type]
    row = await own.object_row(session, change.object_type, change.object_id)
    value: Any = change.value
    longest = kind.settable.get(change.field)
    if isinstance(value, str) and longest is not None and len(value) > longest:
        return StepDone(False, f"{change.object_type}.{change.field} holds at most {longest} "
                               f"characters; the value has {len(value)}")
    if kind.fields[change.field] == "number" and value is not None:
        value = Decimal(str(value))
    shown = f"{change.object_type}.{change.field}"
    if getattr(row, change.field) == value:
        note = f"{shown} was {_shown(value)} already"
    else:
        setattr(row, change.field, value)
        await enrolments.automatic(session=session, object_type=change.object_type,
                                   object_id=change.object_id, when="field_set",
                                   field=change.field, policies=policies)
        note = f"{shown} set to {_shown(value)}"
    await session.commit()
    await enrolments.tell(session=session, client=client, settings=settings,
                          object_type=change.object_type, object_id=change.object_id)
    return StepDone(True, note)


def _shown(value: Any) -> str:
    return f"{value.normalize():f}" if isinstance(value, Decimal) else repr(value)


async def open_ticket(session: AsyncSession, client: Client, settings: Settings,
                      policies: Policies, opening: TicketToOpen) -> StepDone:
    """The ticket for the object's person, its first message keyed by the step and visit
    (so a retry finds the ticket the first attempt opened), then its process started."""
    kind = OBJECTS[opening.object_type]
    row = await own.object_row(session, opening.object_type, opening.object_id)
    email = getattr(row, kind.email) if kind.email else None
    if not email:
        return StepDone(False, f"{opening.object_type} {opening.object_id} has no email to "
                               f"open a ticket for")
    message_id = f"<{opening.opening}@crmflow.workflow>"
    if (ticket_id := await _opened(session, message_id)) is None:
        name = getattr(row, "name", None) if opening.object_type in ("lead", "account") \
            else None
        try:
            ticket, _ = await record_ticket(session, settings, policies, NewTicket(
                contact_email=email, subject=opening.subject, body=opening.body,
                channel="workflow", category=opening.category, priority=opening.priority,
                contact_name=name,
                account_id=row.id if opening.object_type == "account" else None,
                message_id=message_id))
            await session.commit()
            ticket_id = ticket.id
        except IntegrityError:  # another attempt opened it meanwhile
            await session.rollback()
            ticket_id = await _opened(session, message_id)
            assert ticket_id is not None
    await launcher.resume(session, client, settings, SUPPORT_TICKET.workflow_id(ticket_id))
    return StepDone(True, f"ticket {ticket_id} opened for {email}", ticket_id=ticket_id)


async def _opened(session: AsyncSession, message_id: str) -> int | None:
    ticket_id: int | None = await session.scalar(select(TicketMessage.ticket_id).where(
        TicketMessage.message_id == message_id))
    return ticket_id

