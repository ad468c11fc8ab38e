"""Insights in the console: the views the signed-in user may read, over a period, each
drawn as a chart with its numbers in a table beside it, and the slowest cases behind each
bar as links to their pages."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.console.backend import Refused
from api.console.charts import Bar, bars
from api.console.pages import PageDep

router = APIRouter(prefix="/console", include_in_schema=False)

PROCESSES = {"lead_to_sale": "Lead to sale", "quote_approval": "Quote approval",
             "sale_to_project": "Sale to project", "support_ticket": "Support tickets",
             "invoice_dunning": "Invoice dunning"}
CASE_PAGES = {"lead_to_sale": "leads", "quote_approval": "quotes",
              "sale_to_project": "projects", "support_ticket": "tickets",
              "invoice_dunning": "invoices"}
FIRST_PROCESS = {"support_agent": "support_ticket", "support_lead": "support_ticket",
                 "accountant": "invoice_dunning"}
"""The process a role's funnel and cycle times show first (sales: lead to sale)."""
PERIOD = timedelta(days=90)


@router.get("/insights", response_class=HTMLResponse)
async def insights_page(page: PageDep, process: str | None = None,
                        definition: str | None = None, since: str | None = None,
                        to: str | None = None) -> HTMLResponse:
    """The form's fields as typed: an empty choice is no choice, anything the API refuses
    is said on the page."""
    me = await page.me()
    process = process or FIRST_PROCESS.get(me["role"], "lead_to_sale")
    today = date.today()
    since = since or (today - PERIOD).isoformat()
    to = to or (today + timedelta(days=1)).isoformat()
    period = {"from": f"{since}T00:00:00", "to": f"{to}T00:00:00"}
    about = {"definition": definition} if definition else {"process": process}
    chosen = int(definition) if definition and definition.isdigit() else None
    panels, refused = [], []
    for view, params in (("funnel", about), ("cycle-times", about), ("objectives", about),
                         ("approvals", {}),
                         ("forecast", {}), ("sla", {}), ("cash", {})):
        try:
            found = await page.backend.get(f"/insights/{view}", **params, **period)
        except Refused as refusal:
            if refusal.status != 403:
                refused.append(refusal.detail)
            continue
        panels.append(_panel(view, found, None if definition else process))
    definitions = await _definitions(page)
    return await page.render("insights.html.j2", title="Insights", section="insights",
                             panels=panels, refused=refused, processes=PROCESSES,
                             process=process, definition=chosen, definitions=definitions,
                             since=since, to=to)


async def _definitions(page: PageDep) -> list[dict[str, Any]]:
    try:
        return list(await page.backend.get("/workflow-definitions"))
    except Refused:
        return []


TITLES = {"funnel": "Funnel", "cycle-times": "Time in each status", "objectives": "Objectives",
          "approvals": "Approvals",
          "forecast": "Forecast", "sla": "Support targets", "cash": "Cash"}


def _panel(view: str, found: dict[str, Any], process: str | None) -> dict[str, Any]:
    """A view's chart, its table (the API's columns) and what it says besides."""
    rows = found["rows"]
    subject = PROCESSES.get(found["subject"], found["subject"].capitalize())
    title = f"{TITLES[view]}: {subject}"
    kind = CASE_PAGES.get(process or "") if view == "cycle-times" else (
        "quotes" if view == "approvals" else None)
    return {"view": view, "title": title, "chart": _chart(view, rows, found, title),
            "columns": [c for c in found["columns"] if c != "slowest"],
            "rows": rows, "cases": kind, "has_cases": "slowest" in found["columns"],
            "notes": _notes(view, found)}


def _chart(view: str, rows: list[dict[str, Any]], found: dict[str, Any], title: str) -> str:
    chart_id = f"chart-{view}"
    if view == "funnel":
        groups = [(_label(r["stage"]), [Bar(r["reached"], str(r["reached"]))]) for r in rows]
        return bars(f"{title}: cases reaching each stage", groups, chart_id)
    if view == "cycle-times":
        worst = found.get("bottleneck")
        groups = [(_label(r["status"]), [
            Bar(r["p50_hours"], f"p50 {r['p50_hours']} h",
                "alert" if r["status"] == worst else "in-force"),
            Bar(r["p90_hours"], f"p90 {r['p90_hours']} h", "proposed")]) for r in rows]
        return bars(f"{title}: hours, p50 (dark) and p90 (light); the bottleneck in red",
                    groups, chart_id)
    if view == "objectives":
        return bars(f"{title}: share of the cases that reached each objective in time, by "
                    f"period; in red where short of its aim", _attainment(rows), chart_id)
    if view == "approvals":
        groups = [(r["approver"], [Bar(r["decisions"], str(r["decisions"]))]) for r in rows]
        return bars(f"{title}: decisions by approver", groups, chart_id)
    if view == "sla":
        groups = [(f"{r['priority']} {r['team']}".strip(), [
            Bar(100 * (r["first_response_attainment"] or 0),
                _percent(r["first_response_attainment"], "first response")),
            Bar(100 * (r["resolution_attainment"] or 0),
                _percent(r["resolution_attainment"], "resolution"), "proposed")])
            for r in rows]
        return bars(f"{title}: share of targets met, first response (dark) and resolution "
                    f"(light)", groups, chart_id)
    if view == "cash":
        groups = [(f"level {r['level']}", [Bar(r["invoiced"], f"{r['invoiced']:,.2f} invoiced"),
                                           Bar(r["collected"], f"{r['collected']:,.2f} collected",
                                               "proposed")]) for r in rows]
        return bars(f"{title}: invoiced (dark) and collected (light) by the highest dunning "
                    f"level reached", groups, chart_id)
    groups = [(r["month"], [Bar(r["pipeline"], f"{r['pipeline']:,.2f}"),
                            Bar(r["weighted"], f"{r['weighted']:,.2f} weighted", "proposed")])
              for r in rows]
    return bars(f"{title}: open pipeline (dark) and weighted by win rate (light), by month",
                groups, chart_id)


def _attainment(rows: list[dict[str, Any]]) -> list[tuple[str, list[Bar]]]:
    """One group per period, one bar per objective: dark where attained, red where short,
    none where no case was decided."""
    periods: dict[str, list[Bar]] = {}
    for r in rows:
        css = "in-force" if r["attained"] else "alert"
        periods.setdefault(r["period"], []).append(
            Bar(100 * (r["attainment"] or 0), _percent(r["attainment"], r["objective"]), css))
    return list(periods.items())


def _notes(view: str, found: dict[str, Any]) -> list[str]:
    if view == "objectives":
        return [f"{o['name']}: {_percent(o['attainment'], 'attained')} of the decided cases "
                f"over the period, aim {round(100 * o['share'])} % "
                f"({o['met']} met, {o['missed']} missed, {o['pending']} pending)."
                for o in found["objectives"]] or [
            "No objectives yet: a process's are in the policy file ([[objectives.<process>]]),"
            " a workflow of your own's in its definition (objectives:)."]
    if view == "cycle-times" and found.get("bottleneck"):
        return [f"Cases wait longest in {_label(found['bottleneck'])} (highest p50)."]
    if view == "approvals":
        return [f"{found['needed_approval']} of {found['submitted']} submissions needed "
                f"approval; {_percent(found['decided_by_rule_share'], 'decided by the rule')}."]
    if view == "cash":
        dso, promises = found["days_sales_outstanding"], found["promises"]
        return [f"Days sales outstanding: {dso if dso is not None else '—'}.",
                f"Promises: {promises['kept']} kept, {promises['broken']} broken, "
                f"{promises['pending']} pending."]
    if view == "sla":
        stars = ", ".join(f"{n}★ {count}" for n, count in found["ratings"].items())
        return [f"Ratings: {stars}."]
    if view == "forecast":
        return [f"{r['rep']}: pipeline {r['pipeline']:,.2f}, won {r['won']} of {r['closed']}"
                f" closed, p50 {r['days_to_win_p50'] or '—'} days to a win"
                for r in found["reps"]]
    return []


def _label(name: str) -> str:
    return name.replace("_", " ")


def _percent(value: float | None, what: str) -> str:
    return f"{what} —" if value is None else f"{what} {round(100 * value)} %"
