"""Your own workflows in the console: the definitions list, a definition's page (its diagram
drawn from the definition itself, its versions and enrolments, the draft's editor with the
refusals shown at their step) and each enrolment's case page."""

from __future__ import annotations

from typing import Any

import yaml
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from api.console.backend import Refused, form
from api.console.diagram import drawing
from api.console.forms import Fields, csrf_ok, refused_csrf
from api.console.pages import PageDep
from api.console.views import Page, Said
from api.deps import get_state
from api.lookups import ObjectId
from crm.own import reading
from workflows.own.definition import Definition, DefinitionError, read

router = APIRouter(prefix="/console", include_in_schema=False)
DESIGNERS = ("admin", "sales_manager", "support_lead")
"""Who may write definitions (the API's DESIGNERS rule decides; this only hides forms)."""
STARTER = """\
name: New enterprise lead in France
object: lead
trigger: {when: manual}
templates:
  welcome: {subject: "Welcome, {lead.name}", body: "Hello {lead.name}, thank you."}
steps:
  - {id: welcome, send_email: {template: welcome}}
  - {id: pause, wait: {for: 2d}}
  - {id: call, task: {title: "Call {lead.name}", assign: owner, due: 1d}}
  - {id: done, end: {outcome: handed to sales}}
"""
"""What a new definition's editor starts with: a small workflow that runs as it stands."""
CASE_PAGES = {"lead": "leads", "quote": "quotes", "project": "projects", "invoice": "invoices",
              "ticket": "tickets"}


def table(definition: Definition) -> dict[str, list[str]]:
    """The definition's steps and where each may go on to: what its diagram draws."""
    steps: dict[str, list[str]] = {s.id: [] for s in definition.steps}
    for step, target in definition.edges():
        if target in steps and target not in steps[step.id]:
            steps[step.id].append(target)
    return steps


def diagram(document: Any, current: str | None = None, faults: list[str] | None = None
            ) -> str | None:
    """The drawing of a definition's document; None when it cannot be read as one."""
    try:
        definition = read(document)
    except (DefinitionError, TypeError, ValueError, AttributeError, KeyError):
        return None
    label = f"{definition.name}: " + (f"now at {current}" if current else "diagram")
    return drawing(table(definition), current, label, faults or [])


def as_yaml(document: Any) -> str:
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def at_steps(refusal: Refused) -> list[dict[str, str]]:
    """The refusal's problems, each with its step (``steps.call`` → ``call``) or none."""
    found = []
    for error in refusal.errors or [{"field": "", "message": refusal.detail}]:
        where = error.get("field", "")
        step = where.split(".", 1)[1] if where.startswith("steps.") else ""
        found.append({"step": step, "message": error.get("message", "")})
    return found


@router.get("/workflows", response_class=HTMLResponse)
async def definitions_list(page: PageDep, start: str = "") -> HTMLResponse:
    """The definitions and, for a designer, a new one's editor: filled with a small
    workflow, or with one of the predefined definitions (``?start=lead-nurturing``)."""
    return await list_page(page, reading.predefined().get(start, STARTER))


async def list_page(page: Page, text: str = STARTER, problems: list[dict[str, str]] | None
                    = None, status_code: int = 200) -> HTMLResponse:
    rows = await page.backend.get("/workflow-definitions")
    me = await page.me()
    said = Said("refused", "The workflow was not created: see the steps at fault below.") \
        if problems else None
    return await page.render("workflows.html.j2", status_code, title="Workflows",
                             section="workflows", definitions=rows, text=text,
                             predefined=list(reading.predefined()),
                             problems=problems, designer=me["role"] in DESIGNERS,
                             said=said, refresh=False,
                             preview=diagram(_parsed(text), faults=_faults(problems)))


@router.get("/workflows/schema")
async def schema(page: PageDep) -> JSONResponse:
    """The published JSON Schema, for the editor's link (the API's needs a bearer token)."""
    return JSONResponse(await page.backend.get("/workflow-definitions/schema"))


@router.post("/workflows")
async def create(request: Request, page: PageDep) -> Response:
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    try:
        made = await page.backend.post("/workflow-definitions", {"yaml": fields.get("yaml", "")})
    except Refused as refusal:
        if refusal.status != 422:
            raise  # not the definition's fault: the refused page says why
        return await list_page(page, fields.get("yaml", ""), at_steps(refusal), refusal.status)
    return RedirectResponse(f"/console/workflows/{made['id']}?done=created", status_code=303)


DONE = {"created": "Workflow created as a draft.", "saved": "Draft saved.",
        "published": "Published: new enrolments get this version; running ones keep theirs.",
        "archived": "Archived: no new enrolments.", "enrolled": "Enrolled.",
        "cancelled": "Enrolment cancelled.", "approved": "Approved.", "rejected": "Rejected."}


@router.get("/workflows/{definition_id}", response_class=HTMLResponse)
async def definition_case(page: PageDep, definition_id: ObjectId) -> HTMLResponse:
    return await definition_page(page, definition_id)


async def definition_page(page: Page, definition_id: int, *, said: Said | None = None,
                          status_code: int = 200, text: str | None = None,
                          problems: list[dict[str, str]] | None = None,
                          enrol_ids: str = "") -> HTMLResponse:
    """The definition: its diagram (the draft's as typed, when it was refused), its
    versions with their enrolments, the draft's editor, the enrol form."""
    found = await page.backend.get(f"/workflow-definitions/{definition_id}")
    enrolled = await page.backend.get(f"/workflow-definitions/{definition_id}/enrolments")
    draft = found["draft"] or (found["versions"][-1]["definition"] if found["versions"]
                               else None)
    shown = _parsed(text) if text is not None else draft
    done = DONE.get(page.request.query_params.get("done", ""))
    me = await page.me()
    for enrolment in enrolled:
        enrolment["object_href"] = _object_href(enrolment)
    return await page.render(
        "workflow.html.j2", status_code, title=found["name"], section="workflows",
        definition=found, enrolments=enrolled, designer=me["role"] in DESIGNERS,
        text=text if text is not None else as_yaml(draft), problems=problems,
        diagram=diagram(shown, faults=_faults(problems)), enrol_ids=enrol_ids,
        said=said or (Said("done", done) if done else None), refresh=False)


def _poster(path: str, done: str, body: Any, method: str = "post") -> Any:
    async def post(request: Request, page: PageDep, definition_id: ObjectId) -> Response:
        fields = await form(request)
        if not csrf_ok(page, fields):
            return refused_csrf()
        url = f"/workflow-definitions/{definition_id}{path}"
        try:
            await getattr(page.backend, method)(url, body(fields))
        except Refused as refusal:
            text = fields.get("yaml") if "yaml" in fields else None
            return await definition_page(
                page, definition_id, said=Said("refused", refusal.detail),
                status_code=refusal.status, text=text,
                problems=at_steps(refusal) if text is not None else None,
                enrol_ids=fields.get("object_ids", ""))
        return RedirectResponse(f"/console/workflows/{definition_id}?done={done}",
                                status_code=303)
    return post


def _object_ids(fields: Fields) -> dict[str, Any]:
    """``12, 14 15`` → [12, 14, 15]; a word that is no id goes to the API as it is, which
    refuses it naming the field."""
    words = fields.get("object_ids", "").replace(",", " ").split()
    return {"object_ids": [int(w) if w.isdigit() else w for w in words]}


router.post("/workflows/{definition_id}/draft")(
    _poster("/draft", "saved", lambda f: {"yaml": f.get("yaml", "")}, method="put"))
router.post("/workflows/{definition_id}/publish")(_poster("/publish", "published", dict))
router.post("/workflows/{definition_id}/archive")(_poster("/archive", "archived", dict))
router.post("/workflows/{definition_id}/enrol")(_poster("/enrol", "enrolled", _object_ids))


@router.get("/enrolments/{enrolment_id}", response_class=HTMLResponse)
async def enrolment_case(page: PageDep, enrolment_id: ObjectId) -> HTMLResponse:
    return await enrolment_page(page, enrolment_id)


async def enrolment_page(page: Page, enrolment_id: int, said: Said | None = None,
                         status_code: int = 200) -> HTMLResponse:
    """One object's way through the version it was enrolled in: the diagram with the step
    it is at, the steps it entered, its tasks, the emails its object was sent."""
    enrolment = await page.backend.get(f"/enrolments/{enrolment_id}")
    found = await page.backend.get(f"/workflow-definitions/{enrolment['definition_id']}")
    version = next(v for v in found["versions"] if v["version"] == enrolment["version"])
    kind = enrolment["object_type"]
    emails = None
    if kind in CASE_PAGES:
        try:
            emails = (await page.backend.get(
                f"/{CASE_PAGES[kind]}/{enrolment['object_id']}")).get("emails")
        except Refused:
            emails = None
    settings = get_state(page.request).settings
    current = enrolment["step"] if enrolment["status"] == "running" else None
    done = DONE.get(page.request.query_params.get("done", ""))
    asks = _approval_asked(version["definition"], enrolment, current)
    return await page.render(
        "enrolment.html.j2", status_code, title=f"Enrolment {enrolment_id}",
        section="workflows", enrolment=enrolment, definition=found,
        diagram=diagram(version["definition"], current), emails=emails,
        object_href=_object_href(enrolment), approval=asks,
        process_url=f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
                    f"/workflows/{enrolment['process_id']}",
        said=said or (Said("done", done) if done else None))


@router.post("/enrolments/{enrolment_id}/cancel")
async def cancel(request: Request, page: PageDep, enrolment_id: ObjectId) -> Response:
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    try:
        await page.backend.post(f"/enrolments/{enrolment_id}/cancel",
                                {"reason": fields.get("reason", "")})
    except Refused as refusal:
        return await enrolment_page(page, enrolment_id, Said("refused", refusal.detail),
                                    refusal.status)
    return RedirectResponse(f"/console/enrolments/{enrolment_id}?done=cancelled",
                            status_code=303)


@router.post("/enrolments/{enrolment_id}/decision")
async def decide(request: Request, page: PageDep, enrolment_id: ObjectId) -> Response:
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    approve = fields.get("decision") == "approve"
    try:
        await page.backend.post(f"/enrolments/{enrolment_id}/decision",
                                {"approve": approve, "comment": fields.get("comment") or None})
    except Refused as refusal:
        return await enrolment_page(page, enrolment_id, Said("refused", refusal.detail),
                                    refusal.status)
    return RedirectResponse(f"/console/enrolments/{enrolment_id}?done="
                            f"{'approved' if approve else 'rejected'}", status_code=303)


def _approval_asked(definition: dict[str, Any], enrolment: dict[str, Any],
                    current: str | None) -> dict[str, Any] | None:
    """The approval step the enrolment waits at, when it does (entered, not yet decided)."""
    step = next((s for s in definition.get("steps", []) if s.get("id") == current), None)
    if step is None or "approval" not in step:
        return None
    entered = [s for s in enrolment["steps"] if s["step"] == current]
    if not entered or entered[-1]["note"]:
        return None
    return {"step": current, **step["approval"]}


def _object_href(enrolment: dict[str, Any]) -> str | None:
    plural = CASE_PAGES.get(enrolment["object_type"])
    return f"/console/{plural}/{enrolment['object_id']}" if plural else None


def _parsed(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _faults(problems: list[dict[str, str]] | None) -> list[str]:
    return [p["step"] for p in problems or [] if p["step"]]
