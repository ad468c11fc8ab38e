"""Simulations in the console: ask for one (a process and the policy values to change, in a
form of the policy's own keys, or a workflow's draft; the cases of a period), follow its
progress, then read its summary — drawn as a small chart, with the numbers in a table — and
each case's two timelines side by side."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.console.backend import Refused, form
from api.console.charts import Bar, bars
from api.console.forms import Fields, csrf_ok, refused_csrf
from api.console.pages import PageDep
from api.console.views import Page, Said
from api.lookups import ObjectId

router = APIRouter(prefix="/console", include_in_schema=False)
PROCESSES = {"quote_approval": ("The quote rule", "quote_approval"),
             "invoice_dunning": ("The dunning ladder", "dunning")}
"""The built-in processes a simulation replays: their label and their policy table."""


@router.get("/simulations", response_class=HTMLResponse)
async def simulations_page(page: PageDep, process: str = "quote_approval") -> HTMLResponse:
    return await ask_page(page, process)


async def ask_page(page: Page, process: str, *, said: Said | None = None,
                   status_code: int = 200, given: Fields | None = None) -> HTMLResponse:
    """The simulations so far and the form to ask for one: the policy's keys with their
    values in force (those changed are the proposal)."""
    listed = await page.backend.get("/simulations")
    label, table = PROCESSES.get(process, PROCESSES["quote_approval"])
    in_force = (await page.backend.get("/policies"))[table]
    drafts = [d for d in await page.backend.get("/workflow-definitions") if d.get("draft")]
    fields = [{"key": key, "value": (given or {}).get(f"policy.{key}", _shown(value)),
               "long": not isinstance(value, str | int | float | bool | None)}
              for key, value in in_force.items()]
    return await page.render("simulations.html.j2", status_code, title="Simulations",
                             section="simulations", simulations=listed, process=process,
                             processes=PROCESSES, label=label, fields=fields, drafts=drafts,
                             given=given or {}, said=said, refresh=False)


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _changes(fields: Fields, in_force: dict[str, Any]) -> dict[str, Any]:
    """The policy values the form changed: a text as typed, a list or table as JSON (a
    value that is not JSON goes to the API as typed, which refuses it naming the key)."""
    found: dict[str, Any] = {}
    for key, value in in_force.items():
        typed = fields.get(f"policy.{key}")
        if typed is None or typed.strip() == _shown(value):
            continue
        if isinstance(value, str):
            found[key] = typed.strip()
        else:
            try:
                found[key] = json.loads(typed)
            except ValueError:
                found[key] = typed
    return found


@router.post("/simulations")
async def ask(request: Request, page: PageDep) -> Response:
    fields = await form(request)
    if not csrf_ok(page, fields):
        return refused_csrf()
    process = fields.get("process", "quote_approval")
    cases = {key: fields[name] + "T00:00:00Z" for key, name in (("from", "from"), ("to", "to"))
             if fields.get(name)}
    if process.startswith("definition:"):
        body: dict[str, Any] = {"definition": {"id": process.removeprefix("definition:")}}
    else:
        _, table = PROCESSES.get(process, PROCESSES["quote_approval"])
        in_force = (await page.backend.get("/policies"))[table]
        body = {"process": process, "policy": _changes(fields, in_force)}
    try:
        made = await page.backend.post("/simulations", {**body, "cases": cases})
    except Refused as refusal:
        shown = process if process in PROCESSES else "quote_approval"
        return await ask_page(page, shown, said=Said("refused", refusal.detail),
                              status_code=refusal.status, given=fields)
    return RedirectResponse(f"/console/simulations/{made['id']}", status_code=303)


@router.get("/simulations/{simulation_id}", response_class=HTMLResponse)
async def simulation_page(page: PageDep, simulation_id: ObjectId) -> HTMLResponse:
    """Its progress while it runs (the page follows it by itself), then what it found."""
    found = await page.backend.get(f"/simulations/{simulation_id}")
    result = found["result"]
    return await page.render(
        "simulation.html.j2", title=f"Simulation {simulation_id}", section="simulations",
        simulation=found, result=result,
        chart=chart(result["summary"]) if result else None,
        refresh=found["status"] in ("queued", "running"))


def chart(summary: dict[str, Any]) -> str:
    """The outcomes under the policy in force and the proposed one, as paired bars."""
    outcomes = summary["outcomes"]
    names = sorted({*outcomes["current"], *outcomes["proposed"]})
    return bars("Outcomes: in force (dark) and proposed (light)", [
        (name.replace("_", " "), [Bar(outcomes[run].get(name, 0), str(outcomes[run].get(name, 0)),
                                      css)
                                  for run, css in (("current", "in-force"),
                                                   ("proposed", "proposed"))])
        for name in names], "chart-title")
