"""Your own workflows: definitions (a draft, published versions, archived), the objects
enrolled in them, and their enrolments. A definition is data — YAML or JSON checked against
the published JSON Schema and then step by step; a refusal names every step at fault."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field, model_validator
from sqlalchemy import select

from api.access import READS, granted
from api.deps import CurrentUser, PoliciesDep, SessionDep, StateDep, TemporalDep, get_temporal
from api.idempotency import OnceDep, Replay
from api.inputs import Id, In
from crm import launcher
from crm.errors import Conflict
from crm.models import Enrolment, WorkflowDefinition
from crm.own import definitions, enrolments, reading, schedules
from crm.own.reading import Invalid
from crm.repo import own

router = APIRouter(tags=["own workflows"])


class DefinitionIn(In):
    """The definition as data (``definition``) or as YAML text (``yaml``), one of them."""

    definition: dict[str, Any] | None = Field(None, description="The definition document")
    yaml: Annotated[str, Field(max_length=reading.MAX_TEXT)] | None = Field(
        None, description="The same document as YAML (or JSON) text")

    @model_validator(mode="after")
    def _one_of_them(self) -> DefinitionIn:
        if (self.definition is None) == (self.yaml is None):
            raise ValueError("send the definition as data (definition) or as text (yaml)")
        return self

    def document(self) -> dict[str, Any]:
        if self.definition is not None:
            return self.definition
        assert self.yaml is not None
        try:
            return reading.parse_text(self.yaml)
        except Invalid as error:
            raise _refusal(error) from None


class EnrolIn(In):
    object_ids: list[Id] = Field(min_length=1, max_length=100_000)


def _refusal(error: Invalid) -> RequestValidationError:
    """422: one error per problem, at its step (``steps.call``) or its place."""
    return RequestValidationError([
        {"loc": ("body", "steps", p.step) if p.step else ("body", "definition"),
         "msg": p.message, "type": "value_error"} for p in error.problems])


def _out(row: WorkflowDefinition) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "object": row.object_type, "status": row.status,
            "active_version": row.active_version, "draft": row.draft,
            "draft_updated_at": row.draft_updated_at, "created_by_id": row.created_by_id,
            "created_at": row.created_at}


async def _detail(session: SessionDep, row: WorkflowDefinition) -> dict[str, Any]:
    versions = await definitions.versions(session=session, definition_id=row.id)
    return {**_out(row), "versions": [
        {"version": v.version, "published_at": v.published_at,
         "published_by_id": v.published_by_id, "definition": v.body} for v in versions]}


@router.get("/workflow-definitions/schema")
async def definition_schema() -> Any:
    """The JSON Schema every definition is checked against first."""
    return reading.schema()


@router.post("/workflow-definitions", status_code=status.HTTP_201_CREATED)
async def create_definition(body: DefinitionIn, session: SessionDep, user: CurrentUser,
                            policies: PoliciesDep, once: OnceDep) -> Any:
    """A new definition, as a draft (checked: 422 names every step at fault)."""
    await once.claim(session)
    try:
        row = await definitions.create(session=session, data=body.document(),
                                       policies=policies, by=user)
    except Invalid as error:
        raise _refusal(error) from None
    answer = await _detail(session, row)
    await once.keep(session, status.HTTP_201_CREATED, answer)
    await session.commit()
    return answer


@router.get("/workflow-definitions")
async def list_definitions(
    session: SessionDep, object: Literal["lead", "account", "quote", "invoice", "ticket",
                                         "project"] | None = None,
    status: Literal["draft", "active", "archived"] | None = None,
) -> Any:
    return [_out(r) for r in await definitions.listing(session=session, object_type=object,
                                                       status=status)]


@router.get("/workflow-definitions/{definition_id}")
async def get_definition(definition_id: Id, session: SessionDep) -> Any:
    """The definition with its draft and every published version."""
    return await _detail(session, await definitions.get(session=session,
                                                        definition_id=definition_id))


@router.put("/workflow-definitions/{definition_id}/draft")
async def save_draft(definition_id: Id, body: DefinitionIn, session: SessionDep,
                     user: CurrentUser, policies: PoliciesDep) -> Any:
    """Replace the draft; the active version runs on until the draft is published."""
    row = await definitions.get(session=session, definition_id=definition_id,
                                for_update=True)
    definitions.may_edit(row, await definitions.governing(session=session, row=row), user)
    try:
        await definitions.save_draft(session=session, row=row, data=body.document(),
                                     policies=policies)
    except Invalid as error:
        raise _refusal(error) from None
    answer = await _detail(session, row)
    await session.commit()
    return answer


@router.post("/workflow-definitions/{definition_id}/publish")
async def publish(definition_id: Id, session: SessionDep, user: CurrentUser,
                  policies: PoliciesDep, once: OnceDep, state: StateDep) -> Any:
    """The draft becomes the next version: new enrolments get it; running ones keep
    theirs to the end. A scheduled trigger's Temporal Schedule follows the version."""
    await once.claim(session)
    row = await definitions.get(session=session, definition_id=definition_id,
                                for_update=True)
    definitions.may_edit(row, await definitions.governing(session=session, row=row), user)
    before = await definitions.active(session=session, row=row)
    try:
        await definitions.publish(session=session, row=row, policies=policies, by=user)
    except Invalid as error:
        raise _refusal(error) from None
    await schedules.follow(session, row, before, policies, state.settings,
                           lambda: get_temporal(state))
    answer = await _detail(session, row)
    await once.keep(session, status.HTTP_200_OK, answer)
    await session.commit()
    return answer


@router.post("/workflow-definitions/{definition_id}/archive")
async def archive(definition_id: Id, session: SessionDep, user: CurrentUser,
                  policies: PoliciesDep, state: StateDep) -> Any:
    """No new enrolments (nor scheduled runs); the running ones go on to their end."""
    row = await definitions.get(session=session, definition_id=definition_id,
                                for_update=True)
    definitions.may_edit(row, await definitions.governing(session=session, row=row), user)
    before = await definitions.active(session=session, row=row)
    await definitions.archive(session=session, row=row)
    await schedules.follow(session, row, before, policies, state.settings,
                           lambda: get_temporal(state))
    answer = _out(row)
    await session.commit()
    return answer


@router.post("/workflow-definitions/{definition_id}/enrol",
             status_code=status.HTTP_201_CREATED)
async def enrol(definition_id: Id, body: EnrolIn, session: SessionDep, user: CurrentUser,
                client: TemporalDep, state: StateDep, policies: PoliciesDep,
                once: OnceDep) -> Any:
    """Enrol one or many objects in the active version: all of them, or none (409 naming
    the first that cannot be: not found, not within your reach, not meeting the condition,
    enrolled already). Send an ``Idempotency-Key`` to retry safely."""
    if (kept := await once.answered(session)) is not None:
        for workflow_id in _kept_ids(kept.response):
            await launcher.resume(session, client, state.settings, workflow_id)
        return Replay(kept).response()
    await once.claim(session)
    row = await definitions.get(session=session, definition_id=definition_id)
    rule = READS.get(row.object_type)
    if rule is not None:
        grant = granted(user, rule)
        for object_id in body.object_ids:
            await own.object_row(session, row.object_type, object_id)  # 404 first
            await grant.check(session, own.MODELS[row.object_type], object_id,
                              f"{row.object_type} {object_id}")
    elif user.role != "admin":
        raise Conflict(f"only an admin enrols a {row.object_type}")
    made = await enrolments.enrol(session=session, row=row, object_ids=body.object_ids,
                                  policies=policies, by=user)
    answer = [enrolments.summary(m.enrolment) for m in made]
    await once.keep(session, status.HTTP_201_CREATED, answer)
    await session.commit()
    await enrolments.launch(session, client, state.settings, made, marks=state.start_marks)
    return answer


def _kept_ids(response: str) -> list[str]:
    return [e["process_id"] for e in json.loads(response) or []]


@router.get("/workflow-definitions/{definition_id}/enrolments")
async def list_enrolments(
    definition_id: Id, session: SessionDep,
    status: Literal["running", "completed", "goal_reached", "cancelled"] | None = None,
) -> Any:
    row = await definitions.get(session=session, definition_id=definition_id)
    query = select(Enrolment).where(Enrolment.definition_id == row.id)
    if status:
        query = query.where(Enrolment.status == status)
    return [enrolments.summary(e) for e in await session.scalars(query.order_by(Enrolment.id))]
