"""What people do in the console: sign in and out, decide, submit, send, complete a task or
a milestone, cancel a project (invoices and tickets: invoices.py, tickets.py).

Every form posts its CSRF token; the action goes through the API as the signed-in user, so a
refusal is the API's own, shown on the page in its words."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console import session as sessions
from api.console.backend import Refused, form
from api.console.forms import Fields, act, csrf_ok, refused_csrf, text
from api.console.pages import PageDep, approvals, project_page, quote_page
from api.console.views import Said, render
from api.console.work import my_work_page
from api.deps import get_state
from api.lookups import ObjectId

router = APIRouter(prefix="/console", include_in_schema=False)


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
        return refused_csrf()
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
    if not csrf_ok(page, await form(request)):
        return refused_csrf()
    response = RedirectResponse("/console/sign-in", status_code=303)
    await sessions.close_session(get_state(request).sessions, page.session, response)
    return response


@router.post("/quotes/{quote_id}/decision")
async def decide(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    """Approve or reject from the inbox (or the quote's page): the API's decision endpoint."""
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    approve = fields.get("decision") == "approve"
    try:
        await page.backend.post(f"/quotes/{quote_id}/decision",
                                {"approve": approve, "comment": text(fields, "comment")})
    except Refused as refusal:
        said = Said("refused", f"Quote {quote_id}: {refusal.detail}")
        if fields.get("from") == "approvals":
            return await approvals(page, said, refusal.status)
        return await quote_page(page, quote_id, said, refusal.status)
    return RedirectResponse(f"/console/quotes/{quote_id}", status_code=303)


async def _quote_action(request: Request, page: PageDep, quote_id: int, action: str) -> Response:
    async def again(said: Said, status: int, _: Fields) -> Response:
        return await quote_page(page, quote_id, said, status)

    return await act(request, page, f"/quotes/{quote_id}/{action}", lambda _: {},
                     f"/console/quotes/{quote_id}", again)


@router.post("/quotes/{quote_id}/submit")
async def submit(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    return await _quote_action(request, page, quote_id, "submit")


@router.post("/quotes/{quote_id}/send")
async def send(request: Request, page: PageDep, quote_id: ObjectId) -> Response:
    return await _quote_action(request, page, quote_id, "send")


async def _project_action(request: Request, page: PageDep, project_id: int, action: str,
                          *sent: str) -> Response:
    """Post the action to the API with the form's ``sent`` fields."""
    url = f"/console/projects/{project_id}"

    async def again(said: Said, status: int, fields: Fields) -> Response:
        return await project_page(page, project_id, said, status, (f"{url}/{action}", fields))

    return await act(request, page, f"/projects/{project_id}/{action}",
                     lambda fields: {name: fields.get(name, "") for name in sent}, url, again)


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
    async def again(said: Said, status: int, _: Fields) -> Response:
        return await my_work_page(page, said, status)

    return await act(request, page, f"/tasks/{task_id}/complete",
                     lambda fields: {"outcome": fields.get("outcome")}, "/console", again)
