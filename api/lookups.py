"""The objects a path names, as dependencies: 404 when missing, locked where a change
must not race another one."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path

from api.deps import SessionDep
from crm.errors import NotFound
from crm.models import (
    Invoice,
    Lead,
    Milestone,
    Project,
    ProjectTemplate,
    Quote,
    Sale,
    Ticket,
)
from crm.repo import invoices, leads, projects, quotes, tickets

ObjectId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The object's id")]


async def lead_in_path(lead_id: ObjectId, session: SessionDep) -> Lead:
    return await leads.get_lead(session=session, lead_id=lead_id)


async def invoice_in_path(invoice_id: ObjectId, session: SessionDep) -> Invoice:
    return await invoices.get_invoice(session=session, invoice_id=invoice_id)


async def quote_in_path(quote_id: ObjectId, session: SessionDep) -> Quote:
    return await quotes.get_quote(session=session, quote_id=quote_id)


async def ticket_in_path(ticket_id: ObjectId, session: SessionDep) -> Ticket:
    return await tickets.get_ticket(session=session, ticket_id=ticket_id)


async def quote_to_change(quote_id: ObjectId, session: SessionDep) -> Quote:
    """The quote, locked until the request's transaction ends: two changes of one quote
    (a double-clicked submit, an edit racing a submit) take turns."""
    quote = await session.get(Quote, quote_id, with_for_update=True, populate_existing=True)
    if quote is None:
        raise NotFound("quote", quote_id)
    return quote


LeadDep = Annotated[Lead, Depends(lead_in_path)]
QuoteDep = Annotated[Quote, Depends(quote_in_path)]
QuoteToChange = Annotated[Quote, Depends(quote_to_change)]
InvoiceDep = Annotated[Invoice, Depends(invoice_in_path)]
TicketDep = Annotated[Ticket, Depends(ticket_in_path)]


async def sale_in_path(sale_id: ObjectId, session: SessionDep) -> Sale:
    sale = await session.get(Sale, sale_id)
    if sale is None:
        raise NotFound("sale", sale_id)
    return sale


async def project_in_path(project_id: ObjectId, session: SessionDep) -> Project:
    return await projects.get_project(session=session, project_id=project_id)


ProjectDep = Annotated[Project, Depends(project_in_path)]


async def milestone_in_path(milestone_id: ObjectId, project: ProjectDep,
                            session: SessionDep) -> Milestone:
    """A milestone of the project in the path (another project's is not found)."""
    return await projects.get_milestone(session=session, project=project,
                                        milestone_id=milestone_id)


async def template_in_path(template_id: ObjectId, session: SessionDep) -> ProjectTemplate:
    return await projects.get_template(session=session, template_id=template_id)


SaleDep = Annotated[Sale, Depends(sale_in_path)]
MilestoneDep = Annotated[Milestone, Depends(milestone_in_path)]
TemplateDep = Annotated[ProjectTemplate, Depends(template_in_path)]
