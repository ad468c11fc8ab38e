"""Leads: created by the website or a rep, each followed by its lead-to-sale process."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from pydantic import (
    AliasChoices,
    BaseModel,
    EmailStr,
    Field,
    TypeAdapter,
    field_validator,
    model_validator,
)
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from api import decisions, processes
from api.access import TEAM, Grant, GrantDep
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep
from api.idempotency import OnceDep, Replay
from api.inputs import Filter, Id, In, Offset, Paragraphs, SingleLine
from api.lookups import LeadDep, ObjectId, reached
from api.problems import invalid
from api.schemas import EmailOut, Out, StatusChangeOut, as_json
from crm import launcher
from crm.errors import Conflict, CrmError, NotFound
from crm.models import Lead, Team, User
from crm.own import enrolments
from crm.repo import history, leads, outbox
from crm.repo.query import record, records
from workflows.lead_to_sale import ContentDownload, LeadToSale, MarketingResponse, Qualification
from workflows.registry import LEAD_TO_SALE
from workflows.roles import Role

router = APIRouter(tags=["leads"])


class LeadIn(In):
    name: Annotated[SingleLine, Field(max_length=200)]
    email: EmailStr
    company: Annotated[SingleLine, Field(max_length=200)] | None = None
    phone: Annotated[SingleLine, Field(max_length=40)] | None = None
    country: Annotated[str, Field(pattern="^[A-Z]{2}$", description="ISO 3166 code, e.g. FR")] | (
        None) = None
    source: Literal["newsletter", "website", "event", "referral", "rep"] | None = None
    team_id: Id | None = Field(None, description="The sales team that follows the lead: "
                               "a rep's own, the owner's, or the only sales team there is")
    owner_id: Id | None = None
    need: Annotated[Paragraphs, Field(max_length=2000)] | None = None
    budget: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)

    @field_validator("email")
    @classmethod
    def _one_spelling(cls, email: str) -> str:
        """jane@acme.example and Jane@ACME.example are one person: one lead."""
        return email.lower()


class LeadOut(Out):
    id: int
    name: str
    email: str
    company: str | None
    country: str | None
    source: str
    team_id: int | None
    owner_id: int | None
    status: str
    status_reason: str | None
    need: str | None
    budget: Decimal | None
    unsubscribed: bool
    account_id: int | None
    contact_id: int | None
    process_id: str | None = Field(validation_alias=AliasChoices("workflow_id", "process_id"))
    created_at: datetime


class LeadEventOut(Out):
    id: int
    type: str
    content: str | None
    created_at: datetime


class LeadDetail(LeadOut):
    events: list[LeadEventOut]
    emails: list[EmailOut]
    history: list[StatusChangeOut]


class LeadEventIn(In):
    type: Literal["content_downloaded", "demo_requested", "unsubscribed", "marketing_response"]
    content: Annotated[SingleLine, Field(max_length=200, description="e.g. white_paper")] | None = (
        None)

    @model_validator(mode="after")
    def _content_for_downloads(self) -> LeadEventIn:
        if self.type == "content_downloaded" and not self.content:
            raise ValueError("content is required for content_downloaded (e.g. white_paper)")
        return self


class EventAccepted(BaseModel):
    event_id: int
    process: Literal["signalled", "ended"]


class QualifyIn(In):
    qualified: bool
    reason: Annotated[Paragraphs, Field(max_length=2000)] | None = None
    need: Annotated[Paragraphs, Field(max_length=2000, description="Kept on the lead")] | None = (
        None)
    budget: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)


LEADS, DETAIL = TypeAdapter(list[LeadOut]), TypeAdapter(LeadDetail)
"""The answers' adapters, built once."""


async def _detail(session: SessionDep, lead_id: int) -> LeadDetail:
    """The lead as the database has it now (a process may just have changed it)."""
    await session.flush()
    connection = await session.connection()
    lead = await leads.shown_lead(connection=connection, lead_id=lead_id)
    if lead is None:
        raise NotFound("lead", lead_id)
    return await _shown(connection, lead)


async def _shown(connection: AsyncConnection, lead: Row[Any]) -> LeadDetail:
    """The lead's row of ``leads.SHOWN`` with its events, emails and history, read by
    SQLAlchemy Core and validated once."""
    events = await leads.events_shown(connection=connection, lead_id=lead.id)
    emails = await outbox.emails_shown(connection=connection, related_type="lead",
                                       related_id=lead.id)
    changes = await history.histories_shown(connection=connection, object_type="lead",
                                            object_ids=[lead.id])
    return DETAIL.validate_python({**record(lead), "events": records(events),
                                   "emails": records(emails[::-1]),
                                   "history": records(changes.get(lead.id, []))})


@router.post("/leads", status_code=status.HTTP_201_CREATED, response_model=LeadOut)
async def create_lead(
    body: LeadIn,
    session: SessionDep,
    grant: GrantDep,
    client: TemporalDep,
    state: StateDep,
    policies: PoliciesDep,
    once: OnceDep,
) -> Any:
    """Create a lead and start its lead-to-sale process (nurturing begins at once).

    Every lead is followed by a sales team (one with a sales rep): the one named, else the
    owner's, else the only one there is (a lead without a team is refused while there are
    several). A rep creates leads in their own team. One active lead per email: a second
    sign-up of someone already followed is refused (409, naming the lead). Send an
    ``Idempotency-Key`` to retry safely."""
    if (kept := await once.answered(session)) is not None:
        if kept.workflow_id:
            await launcher.resume(session, client, state.settings, kept.workflow_id)
            lead_id = int(kept.workflow_id.rpartition("-")[2])
            for enrolment in await enrolments.running_on(session=session, object_type="lead",
                                                         object_id=lead_id):
                await launcher.resume(session, client, state.settings, enrolment.workflow_id)
        return Replay(kept).response()
    await once.claim(session)
    fields = await _checked_fields(body, session, grant)
    lead = await _new_lead(session, fields)
    start = await launcher.record_start(session, LEAD_TO_SALE, lead.id,
                                         processes.lead_to_sale_input(lead, policies))
    enrolled = await enrolments.automatic(session=session, object_type="lead",
                                          object_id=lead.id, when="created", policies=policies)
    answer = LeadOut.model_validate(lead)
    await once.keep(session, status.HTTP_201_CREATED, answer, workflow_id=start.workflow_id)
    await session.commit()
    await launcher.launch(session, client, state.settings, start, fresh=True,
                          marks=state.start_marks)
    await enrolments.launch(session, client, state.settings, enrolled, marks=state.start_marks)
    return answer


async def _checked_fields(body: LeadIn, session: SessionDep, grant: Grant) -> dict[str, Any]:
    fields, user = body.model_dump(), grant.user
    if user.role == Role.SALES_REP:
        fields["owner_id"] = fields["owner_id"] or user.id
        fields["source"] = fields["source"] or "rep"
    fields["source"] = fields["source"] or "newsletter"
    owner = None
    if fields["owner_id"] is not None:
        owner = await session.get(User, fields["owner_id"])
        if owner is None or owner.role != Role.SALES_REP or not owner.active:
            raise invalid("owner_id", f"no active sales rep {fields['owner_id']}")
    fields["team_id"] = await _sales_team(session, grant, fields["team_id"], owner)
    return fields


async def _sales_team(session: SessionDep, grant: Grant, team_id: int | None,
                      owner: User | None) -> int:
    """The sales team that follows the lead: never a team without a sales rep to follow it
    (Support), never none (its rep would be anyone's)."""
    teams = await leads.sales_teams(session=session)
    team_id = team_id or (owner.team_id if owner else None)
    if team_id is None:
        if len(teams) != 1:
            raise invalid("team_id", "required: the sales team that follows the lead (one of "
                                     f"{', '.join(f'{t.id} {t.name}' for t in teams)})")
        team_id = teams[0].id
    if grant.scope == TEAM and team_id != grant.user.team_id:
        raise grant.refusal(f"team {team_id}")
    if team_id not in {t.id for t in teams}:
        team = await session.get(Team, team_id)
        raise invalid("team_id", f"no team {team_id}" if team is None else
                      f"team {team_id} ({team.name}) is not a sales team: no sales rep there "
                      f"follows leads")
    if owner is not None and owner.team_id != team_id:
        raise invalid("owner_id", f"sales rep {owner.id} is not in team {team_id}")
    return team_id


async def _new_lead(session: SessionDep, fields: dict[str, Any]) -> Lead:
    """The lead, unless the person is already followed (checked, then enforced by the
    database's unique index: concurrent sign-ups of one email make one lead)."""
    email = fields["email"]
    try:
        if await leads.active_lead_with(session=session, email=email) is None:
            async with session.begin_nested():
                return await leads.create_lead(session=session, **fields)
    except IntegrityError:
        pass
    existing = await leads.active_lead_with(session=session, email=email)
    raise Conflict(f"lead {existing} with email {email} is still being followed"
                   if existing else f"a lead with email {email} is still being followed")


@router.get("/leads", response_model=list[LeadOut])
async def list_leads(
    session: SessionDep,
    grant: GrantDep,
    status: Filter | None = None,
    owner_id: Annotated[Id | None, Query()] = None,
    team_id: Annotated[Id | None, Query()] = None,
    email: Annotated[Filter | None, Query(max_length=320)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Any:
    """Newest first: a rep's or a manager's team's leads, all for an admin."""
    rows = await leads.shown_leads(connection=await session.connection(), user=grant.user,
                                   scope=grant.scope, status=status, owner_id=owner_id,
                                   team_id=team_id, email=email, limit=limit, offset=offset)
    return as_json(LEADS, LEADS.validate_python(records(rows)))


@router.get("/leads/{lead_id}", response_model=LeadDetail)
async def get_lead(lead_id: ObjectId, session: SessionDep, grant: GrantDep) -> Any:
    """The lead with its status, owner, events, the emails it was sent, and its history."""
    connection = await session.connection()
    found = await leads.shown_lead(connection=connection, lead_id=lead_id, user=grant.user,
                                   scope=grant.scope)
    lead = await reached(connection, grant, Lead, lead_id, "lead", found)
    return as_json(DETAIL, await _shown(connection, lead))


@router.post("/leads/{lead_id}/events", status_code=status.HTTP_202_ACCEPTED,
             response_model=EventAccepted)
async def post_event(
    lead: LeadDep, body: LeadEventIn, session: SessionDep, user: CurrentUser,
    client: TemporalDep, state: StateDep, policies: PoliciesDep, once: OnceDep,
) -> Any:
    """Something the lead did: its process and its enrolments in your own workflows hear
    of it, and it is recorded — both, or neither (503 when they cannot be told, so a
    retry records it once). A workflow triggered by this event enrols the lead."""
    await once.claim(session)
    event = await leads.add_event(session=session, lead=lead, type=body.type,
                                  content=body.content, recorded_by_id=user.id)
    await enrolments.tell(session=session, client=client, settings=state.settings,
                          object_type="lead",
                          object_id=lead.id, event=body.type)
    enrolled = await enrolments.automatic(session=session, object_type="lead",
                                          object_id=lead.id, when="event", event=body.type,
                                          policies=policies)
    handle = client.get_workflow_handle(LEAD_TO_SALE.workflow_id(lead.id))
    signals: dict[str, tuple[Any, Any]] = {
        "content_downloaded": (LeadToSale.content_downloaded, ContentDownload(body.content or "")),
        "demo_requested": (LeadToSale.demo_requested, None),
        "unsubscribed": (LeadToSale.unsubscribed, None),
        "marketing_response": (LeadToSale.marketing_response, MarketingResponse(body.content)),
    }
    delivered = await processes.signal(handle, state.settings, *signals[body.type])
    answer = EventAccepted(event_id=event.id, process="signalled" if delivered else "ended")
    await once.keep(session, status.HTTP_202_ACCEPTED, answer)
    if enrolled:
        await session.commit()
        await enrolments.launch(session, client, state.settings, enrolled,
                                marks=state.start_marks)
    return answer


@router.post("/leads/{lead_id}/qualify", response_model=LeadDetail)
async def qualify(
    lead: LeadDep, body: QualifyIn, session: SessionDep, user: CurrentUser, client: TemporalDep,
    state: StateDep, once: OnceDep,
) -> Any:
    """Qualify (an opportunity opens: account and contact) or disqualify, with a reason."""
    decision = Qualification(
        qualified=body.qualified,
        by_user_id=user.id,
        by_role=user.role,
        reason=body.reason,
        need=body.need or lead.need,
        budget=body.budget if body.budget is not None else lead.budget,
    )
    lead_id = lead.id

    async def ended() -> CrmError:
        current = await session.get(Lead, lead_id, populate_existing=True)
        return Conflict(f"lead {lead_id} is {current.status if current else 'gone'}: its "
                        f"process has ended")

    async def answer(_: Any) -> Any:
        return await _detail(session, lead_id)

    return await decisions.decide(session, client, state.settings, once,
                                  LEAD_TO_SALE.workflow_id(lead_id), LeadToSale.qualify,
                                  decision, ended=ended, answer=answer)
