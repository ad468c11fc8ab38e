"""The console's pages: the approval inbox, and the case pages of leads, quotes and projects
(invoices and tickets have modules of their own; lists are in lists.py, my work in work.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from api.console.backend import Backend, Refused
from api.console.diagram import svg
from api.console.file_list import files_of, linked
from api.console.forms import Fields, act, action, field
from api.console.session import read
from api.console.views import SUPERVISORS, Page, Said
from api.deps import get_state
from api.lookups import ObjectId
from workflows.registry import LEAD_TO_SALE, QUOTE_APPROVAL, SALE_TO_PROJECT, ProcessSpec

router = APIRouter(prefix="/console", include_in_schema=False)


class SignIn(Exception):
    """No valid session: to the sign-in page."""


async def signed_in(request: Request) -> Page:
    session = read(request, get_state(request).settings)
    if session is None:
        raise SignIn
    return Page(request, session, Backend(request, session))


PageDep = Annotated[Page, Depends(signed_in)]

CasePage = Callable[[Page, int, Said, int, tuple[str, Fields]], Awaitable[Response]]
"""A case page again, saying something, with a form as it was posted."""
Body = Callable[[Fields], dict[str, Any]]


def case_actions(router: APIRouter, kind: str, case_page: CasePage,
                 actions: Iterable[tuple[str, str, str, Body]]) -> None:
    """Route the forms of a case page: ``(path, api_path, done, body)`` posts the form at
    ``/console/{kind}/{id}/{path}`` to the API's ``/{kind}/{id}/{api_path}``, then goes back
    to the case saying ``done``, or shows it again with the API's refusal."""
    for path, api_path, done, body in actions:
        router.post(f"/{kind}/{{object_id}}/{path}")(
            _poster(kind, case_page, path, api_path, done, body))


def _poster(kind: str, case_page: CasePage, path: str, api_path: str, done: str,
            body: Body) -> Callable[..., Awaitable[Response]]:
    async def post(request: Request, page: PageDep, object_id: ObjectId) -> Response:
        url = f"/console/{kind}/{object_id}"

        async def again(said: Said, status: int, fields: Fields) -> Response:
            return await case_page(page, object_id, said, status, (f"{url}/{path}", fields))

        return await act(request, page, f"/{kind}/{object_id}/{api_path}", body,
                         f"{url}?done={done}", again)

    return post


@router.get("/approvals", response_class=HTMLResponse)
async def approvals(page: PageDep, said: Said | None = None, status_code: int = 200
                    ) -> HTMLResponse:
    """Each quote waiting for me: lines, author, history, reminders, time left."""
    items = []
    for quote in await page.backend.get("/approvals"):
        state = (await page.backend.get(f"/processes/{quote['process_id']}")).get("state") or {}
        due = state.get("decision_due")
        left = datetime.fromisoformat(due) - datetime.now(UTC) if due else None
        items.append({"quote": quote, "decision_due": due,
                      "reminders_sent": state.get("reminders_sent", 0),
                      "time_left": in_words(left) if left is not None else None})
    return await page.render("approvals.html.j2", status_code, title="Approvals",
                             section="approvals", quotes=items, said=said)


def in_words(left: timedelta) -> str:
    """Time left as people say it: '3 days 4 hours', '25 minutes', 'no time'."""
    minutes = max(int(left.total_seconds() // 60), 0)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
             ((days, "day"), (hours, "hour"), (minutes, "minute")) if n][:2]
    return " ".join(parts) or "no time"


DONE = {
    "payment": "Payment recorded.", "dispute": "Dispute recorded: the reminders pause.",
    "resolved-dispute": "Dispute resolved.", "promise": "Promise to pay recorded.",
    "write-off": "Invoice written off.", "answer": "Answer sent to the customer.",
    "request-info": "Asked the customer: the ticket waits for the answer.",
    "assign": "Ticket assigned.", "resolve": "Ticket resolved: the customer is asked to "
    "rate the answer.", "reopen": "Ticket reopened.", "file": "File added.",
}
"""What a case page says after an action succeeded (``?done=``)."""


async def case(page: Page, kind: str, object_id: int, spec: ProcessSpec, data: dict[str, Any],
               *, said: Said | None = None, posted: tuple[str, Fields] | None = None,
               **context: Any) -> HTMLResponse:
    """A case page: status, diagram, facts, the actions offered, history, emails, tasks.
    ``posted``: the refused form's URL and fields, shown again as they were typed."""
    me = await page.me()
    assignee = "all" if me["role"] in SUPERVISORS else "me"
    tasks = data.get("tasks")
    if tasks is None:
        tasks = await page.backend.get("/tasks", assignee=assignee, related_type=kind,
                                       related_id=object_id)
    settings = get_state(page.request).settings
    workflow_id = data.get("process_id")
    process_url = (f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}"
                   f"/workflows/{workflow_id}" if workflow_id else None)
    done = DONE.get(page.request.query_params.get("done", ""))
    return await page.render(
        "case.html.j2", kind=kind, object_id=object_id,
        files=await files_of(page, kind, object_id, data.get("milestones") if kind == "project"
                             else None),
        milestones=data.get("milestones") if kind == "project" else None,
        linked=linked, status=data["status"], history=data["history"],
        diagram=svg(spec, data["status"]), process_url=process_url, tasks=tasks,
        emails=data.get("emails"), said=said or (Said("done", done) if done else None),
        posted={"url": posted[0], "fields": posted[1]} if posted else None,
        **{"parts": [], "actions": [], "facts": [], **context})


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
async def lead_case(page: PageDep, lead_id: ObjectId) -> HTMLResponse:
    lead = await page.backend.get(f"/leads/{lead_id}")
    facts = [f"{lead['email']}" + (f" · {lead['company']}" if lead["company"] else ""),
             f"Owner: user {lead['owner_id']}" if lead["owner_id"] else "No owner yet"]
    return await case(page, "lead", lead_id, LEAD_TO_SALE, lead, title=f"Lead {lead_id}",
                      section="leads", heading=f"Lead {lead_id}: {lead['name']}", facts=facts)


async def quote_page(page: Page, quote_id: int, said: Said | None = None,
                     status_code: int = 200) -> HTMLResponse:
    """The quote's case page, with the actions its status offers."""
    quote = await page.backend.get(f"/quotes/{quote_id}")
    url = f"/console/quotes/{quote_id}"
    actions = []
    if quote["status"] in ("draft", "rejected"):
        actions.append(action(f"{url}/submit", "Submit"))
    if quote["status"] in ("pending_approval", "escalated"):
        actions.append(action(f"{url}/decision", "Approve", value="approve"))
    if quote["status"] == "validated":
        actions.append(action(f"{url}/send", "Send to the customer"))
    facts = [f"By {quote['author_name']} · discount {quote['discount_pct']} % · "
             f"submission {quote['submission']}"]
    return await case(page, "quote", quote_id, QUOTE_APPROVAL, quote, quote=quote,
                      title=f"Quote {quote_id}", section="quotes",
                      heading=f"Quote {quote_id} for {quote.get('customer') or '—'}",
                      facts=facts, actions=actions, said=said, status_code=status_code,
                      parts=["_lines.html.j2"])


@router.get("/quotes/{quote_id}", response_class=HTMLResponse)
async def quote_case(page: PageDep, quote_id: ObjectId) -> HTMLResponse:
    return await quote_page(page, quote_id)


async def project_page(page: Page, project_id: int, said: Said | None = None,
                       status_code: int = 200, posted: tuple[str, Fields] | None = None
                       ) -> HTMLResponse:
    """The project's case page: its milestones, totals and the actions its status offers."""
    project = await page.backend.get(f"/projects/{project_id}")
    people = {p["user_id"]: p["name"] for p in project["participants"]}
    totals = project["totals"]
    facts = [f"Managed by {people.get(project['manager_id'], '—')} · template "
             f"{project['template']} · invoiced {project['invoicing_policy'].replace('_', ' ')}",
             f"{totals['hours']} hours · costs {totals['costs']} · invoiced "
             f"{totals['invoiced']} · paid {totals['paid']} · margin {totals['margin']} "
             f"{project['currency']}"]
    facts += [f"{m['name']}: due {m['due_on']}, {m['state']} · {people.get(m['owner_id'], '—')}"
              for m in project["milestones"]]
    url = f"/console/projects/{project_id}"
    actions: list[dict[str, Any]] = []
    if project["status"] == "active":
        actions += [action(f"{url}/milestones/{m['id']}/complete", f"Complete {m['name']}")
                    for m in project["milestones"] if m["state"] != "completed"]
    if project["status"] in ("planned", "active"):
        actions.append(action(f"{url}/cancel", "Cancel", field("reason", "Reason"),
                              legend="Cancel the project"))
    return await case(page, "project", project_id, SALE_TO_PROJECT, project,
                      title=f"Project {project_id}", section="projects",
                      heading=f"Project {project_id}: {project['name']}", facts=facts,
                      actions=actions, said=said, status_code=status_code, posted=posted,
                      invoices=project["invoices"], parts=["_project_invoices.html.j2"])


@router.get("/projects/{project_id}", response_class=HTMLResponse)
async def project_case(page: PageDep, project_id: ObjectId) -> HTMLResponse:
    return await project_page(page, project_id)


__all__ = ["PageDep", "Refused", "SignIn", "case", "project_page", "quote_page", "router",
           "signed_in"]
