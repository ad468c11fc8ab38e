"""What people do in the console: sign in and out, decide, submit, send, complete a task.

Every form posts its CSRF token; the action goes through the API as the signed-in user, so a
refusal is the API's own, shown on the page in its words."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import session as sessions
from api.console.backend import Refused, form
from api.console.pages import PageDep, approvals, project_page, quote_page
from api.console.views import Said, render
from api.deps import get_state
from api.lookups import ObjectId

router = APIRouter(prefix="/console", include_in_schema=False)


def _refused_csrf() -> HTMLResponse:
    return HTMLResponse("<p>This form is stale or was not sent by the console: reload the "
                        "page and try again.</p>", status_code=403)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> HTMLResponse:
    token = sessions.sign_in_csrf(request)
    response = render(request, "sign_in.html.j2", title="Sign in", refresh=False, me=None,
                      csrf=token)
    sessions.remember_sign_in_csrf(response, token)
    return response


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    fields = await form(request)
    expected = request.cookies.get(sessions.SIGN_IN_CSRF, "")
    if not expected or fields.get("csrf") != expected:
        return _refused_csrf()
    state = get_state(request)
    response = RedirectResponse("/console", status_code=303)
    user = await sessions.open_session(state.sessions, state.settings,
                                       fields.get("token", "").strip(), response)
    if user is None:
        page = render(request, "sign_in.html.j2", 401, title="Sign in", refresh=False, me=None,
                      csrf=expected, said=Said("refused", "This token is unknown, revoked or "
                                                          "expired."))
        return page
    return response


@router.post("/sign-out")
async def sign_out(request: Request, page: PageDep) -> Response:
    if not _csrf_ok(page, await form(request)):
        return _refused_csrf()
    response = RedirectResponse("/console/sign-in", status_code=303)
    await sessions.close_session(get_state(request).sessions, page.session, response)
    return response


def _csrf_ok(page: PageDep, fields: dict[str, str]) -> bool:
    return sessions.valid_csrf(get_state(page.request).settings, page.session,
                               fields.get("csrf", ""))


@router.post("/quotes/{quote_id}/decision")
async def decide(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    """Approve or reject from the inbox (or the quote's page): the API's decision endpoint."""
    fields = await form(request)
    if not _csrf_ok(page, fields):
        return _refused_csrf()
    approve = fields.get("decision") == "approve"
    comment = fields.get("comment", "").strip() or None
    try:
        await page.backend.post(f"/quotes/{quote_id}/decision",
                                {"approve": approve, "comment": comment})
    except Refused as refusal:
        said = Said("refused", f"Quote {quote_id}: {refusal.detail}")
        if fields.get("from") == "approvals":
            return await approvals(page, said, refusal.status)
        return await quote_page(page, quote_id, said, refusal.status)
    return RedirectResponse(f"/console/quotes/{quote_id}", status_code=303)


async def _quote_action(request: Request, page: PageDep, quote_id: int, action: str) -> Response:
    if not _csrf_ok(page, await form(request)):
        return _refused_csrf()
    try:
        await page.backend.post(f"/quotes/{quote_id}/{action}")
    except Refused as refusal:
        return await quote_page(page, quote_id, Said("refused", refusal.detail), refusal.status)
    return RedirectResponse(f"/console/quotes/{quote_id}", status_code=303)


@router.post("/quotes/{quote_id}/submit")
async def submit(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    return await _quote_action(request, page, quote_id, "submit")


@router.post("/quotes/{quote_id}/send")
async def send(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    return await _quote_action(request, page, quote_id, "send")


async def _project_action(request: Request, page: PageDep, project_id: int, action: str,
                          *sent: str) -> Response:
    """Post the action to the API with the form's ``sent`` fields."""
    fields = await form(request)
    if not _csrf_ok(page, fields):
        return _refused_csrf()
    try:
        await page.backend.post(f"/projects/{project_id}/{action}",
                                {name: fields.get(name, "") for name in sent})
    except Refused as refusal:
        return await project_page(page, project_id, Said("refused", refusal.detail),
                                  refusal.status)
    return RedirectResponse(f"/console/projects/{project_id}", status_code=303)


@router.post("/projects/{project_id}/milestones/{milestone_id}/complete")
async def complete_milestone(request: Request, page: PageDep, project_id: ObjectId,
                             milestone_id: ObjectId) -> Response:
    return await _project_action(request, page, project_id,
                                 f"milestones/{milestone_id}/complete")


@router.post("/projects/{project_id}/cancel")
async def cancel_project(request: Request, page: PageDep, project_id: ObjectId) -> Response:
    return await _project_action(request, page, project_id, "cancel", "reason")


@router.post("/tasks/{task_id}/complete")
async def complete_task(request: Request, page: PageDep, task_id: ObjectId) -> Response:
    fields = await form(request)
    if not _csrf_ok(page, fields):
        return _refused_csrf()
    try:
        await page.backend.post(f"/tasks/{task_id}/complete", {"outcome": fields.get("outcome")})
    except Refused as refusal:
        return await page.render("my_work.html.j2", refusal.status, title="My work",
                                 section="work", tasks=[], approvals=None,
                                 said=Said("refused", refusal.detail))
    return RedirectResponse("/console", status_code=303)
