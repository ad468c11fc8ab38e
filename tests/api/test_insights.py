"""Insights through the API: each view answers JSON and CSV, narrowed to the caller's reach
(a rep's own cases, a manager's or support lead's team's), and refuses what it cannot
answer naming the parameter. The numbers themselves: tests/insights/test_views.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crm import db
from crm.repo import people
from tests.api.conftest import Api
from tests.api.test_console import signed_in
from tests.insights.history import build

OCTOBER = {"from": "2026-10-01T00:00:00+02:00", "to": "2026-11-01T00:00:00+01:00",
           "time_zone": "Europe/Paris"}


async def get(api: Api, view: str, who: str, **params: Any) -> Any:
    return await api.call("GET", f"/insights/{view}", who, params={**OCTOBER, **params})


def reached(answer: Any) -> list[int]:
    assert answer.status_code == 200, answer.text
    return [row["reached"] for row in answer.json()["rows"]]


async def test_each_view_answers_within_the_caller_s_reach(api: Api) -> None:
    known = await build(api.sessions, api.team)
    async with db.unit_of_work(api.sessions) as session:
        api.tokens["support_lead"] = await people.issue_token(session=session,
                                                              user=known.support.lead)

    # A manager reads their team's leads (L1-L4), whatever team they name; another team's
    # manager theirs (L6, qualified straight away); a rep their own.
    manager = await get(api, "funnel", "manager", process="lead_to_sale")
    assert reached(manager) == [4, 3, 2, 1, 1]
    assert manager.json()["covers"]["team"] == api.team.manager.team_id
    assert reached(await get(api, "funnel", "foreign_manager",
                             process="lead_to_sale")) == [1, 1, 1, 0, 0]
    assert reached(await get(api, "funnel", "rep", process="lead_to_sale")) == [4, 3, 2, 1, 1]
    assert reached(await get(api, "funnel", "admin", process="lead_to_sale")) == [5, 4, 3, 1, 1]
    assert reached(await get(api, "funnel", "other_rep", process="lead_to_sale")) == [0] * 5

    cycle = await get(api, "cycle-times", "manager", process="lead_to_sale")
    assert cycle.json()["bottleneck"] == "qualified"
    approvals = await get(api, "approvals", "manager")
    assert [row["approver"] for row in approvals.json()["rows"]] == [
        "Maria", "Ada", "the timeout rule"]
    forecast = await get(api, "forecast", "rep")
    assert [row["weighted"] for row in forecast.json()["rows"]] == [1825.92, 100.0]
    sla = await get(api, "sla", "support_lead")
    assert [(row["priority"], row["tickets"]) for row in sla.json()["rows"]] == [
        ("high", 3), ("normal", 1)]
    cash = await get(api, "cash", "accountant")
    assert cash.json()["days_sales_outstanding"] == 17.1
    own = await get(api, "funnel", "manager", definition=known.definition_id)
    assert reached(own) == [2, 2, 2, 1]

    csv = await api.call("GET", "/insights/cash", "accountant", params=OCTOBER,
                         headers={"Accept": "text/csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "level,invoices,invoiced,collected,paid,open_balance",
        "0,2,1400.0,1000.0,1,300.0", "1,1,2000.0,500.0,0,1500.0", "2,1,520.0,520.0,1,0.0",
        "3,1,300.0,0.0,0,0.0"]


async def test_what_an_insight_cannot_answer_is_refused(api: Api) -> None:
    await build(api.sessions, api.team)
    refusals = [
        ("funnel", "admin", {"process": "cooking"}, 422, "process"),
        ("funnel", "admin", {}, 422, "process"),
        ("funnel", "admin", {"process": "lead_to_sale", "time_zone": "Mars/Olympus"}, 422,
         "time_zone"),
        ("funnel", "admin", {"process": "lead_to_sale", "to": "2026-09-01T00:00:00Z"}, 422,
         "to"),
        ("funnel", "admin", {"process": "lead_to_sale", "from": "yesterday"}, 422, "from"),
        ("cash", "admin", {"team": 1}, 422, "team"),
        ("funnel", "admin", {"definition": 999_999}, 422, "definition"),
        ("sla", "admin", {"process": "lead_to_sale"}, 422, "process"),
        ("funnel", "accountant", {"process": "lead_to_sale"}, 403, None),
        ("funnel", "manager", {"process": "invoice_dunning"}, 403, None),
        ("cash", "manager", {}, 403, None),
        ("funnel", "rep", {"process": "lead_to_sale", "owner": api.team.other_rep.id}, 403,
         None),
        ("funnel", "manager", {"process": "lead_to_sale",
                               "team": api.team.foreign_manager.team_id}, 403, None),
        ("sla", "website", {}, 403, None),
        ("objectives", "admin", {"process": "lead_to_sale", "every": "year"}, 422, "every"),
        ("funnel", "admin", {"process": "lead_to_sale", "every": "week"}, 422, "every"),
        ("objectives", "admin", {}, 422, "process"),
        ("objectives", "accountant", {"process": "lead_to_sale"}, 403, None),
    ]
    for view, who, params, status, field in refusals:
        answer = await get(api, view, who, **params)
        assert answer.status_code == status, (view, who, params, answer.text)
        body = answer.json()
        assert body["detail"], body
        if field:
            assert [error["field"] for error in body["errors"]] == [field], body


async def test_the_console_draws_each_view_the_user_reads_with_its_table(api: Api) -> None:
    known = await build(api.sessions, api.team)
    maria = await signed_in(api, "manager")
    page = await maria.get("/console/insights", params={"since": "2026-10-01",
                                                        "to": "2026-11-01"})
    assert page.status_code == 200, page.text
    html = page.text
    assert 'href="/console/insights" aria-current="page"' in html
    # A sales manager's views, each an SVG chart with its table; support's and cash are not.
    for view in ("funnel", "cycle-times", "approvals", "forecast"):
        assert f'id="chart-{view}"' in html, view
    assert 'id="chart-sla"' not in html and 'id="chart-cash"' not in html
    assert html.count('<svg viewBox') == 5 and html.count("<caption>") == 5
    assert "No objectives yet" in html  # the objectives' chart, empty: none in the policy
    # The bottleneck is drawn apart and said; the slowest cases link to their pages.
    assert 'class="alert"' in html and "Cases wait longest in qualified" in html
    assert f'<a href="/console/leads/{known.leads["L7"]}">' in html
    assert '<th scope="row">engaged</th><td data-label="reached">3</td>' in html
    # An empty choice is no choice; what the API refuses is said on the page.
    typo = await maria.get("/console/insights", params={"since": "soon", "definition": ""})
    assert typo.status_code == 200 and 'role="alert">from: ' in typo.text
    carl = await signed_in(api, "accountant")
    cash = (await carl.get("/console/insights", params={"since": "2026-10-01",
                                                         "to": "2026-11-01"})).text
    assert 'id="chart-cash"' in cash and 'id="chart-funnel"' in cash  # invoices' funnel
    assert "Days sales outstanding: 17.1." in cash
    assert "Promises: 1 kept, 1 broken, 1 pending." in cash


LEADS_QUALIFIED = """
[[objectives.lead_to_sale]]
name = "Qualified within 3 days"
reach = "qualified"
within = "P3D"
share = 0.6
"""


async def test_a_process_s_objectives_come_from_the_policy_in_force(
    api: Api, policy_file: Path,
) -> None:
    await build(api.sessions, api.team)
    assert (await get(api, "objectives", "manager", process="lead_to_sale")).json()[
        "rows"] == []
    policy_file.write_text(LEADS_QUALIFIED)
    # The manager's team's leads: L1 and L2 qualified in time, L3 and L4 never (the numbers:
    # tests/insights/test_objectives.py).
    answer = await get(api, "objectives", "manager", process="lead_to_sale")
    assert answer.status_code == 200, answer.text
    assert [(row["period"], row["met"], row["missed"], row["attained"])
            for row in answer.json()["rows"]] == [("2026-10", 2, 2, False)]
    weekly = await get(api, "objectives", "manager", process="lead_to_sale", every="week")
    assert [row["period"] for row in weekly.json()["rows"]][:2] == ["2026-W40", "2026-W41"]
    csv = await api.call("GET", "/insights/objectives", "manager",
                         params={**OCTOBER, "process": "lead_to_sale"},
                         headers={"Accept": "text/csv"})
    assert csv.text.splitlines() == [
        "objective,period,cases,met,missed,pending,attainment,share,attained",
        "Qualified within 3 days,2026-10,4,2,2,0,0.5,0.6,False"]

    maria = await signed_in(api, "manager")
    html = (await maria.get("/console/insights", params={"since": "2026-10-01",
                                                         "to": "2026-11-01"})).text
    assert 'id="chart-objectives"' in html
    assert ("Qualified within 3 days: attained 50 % of the decided cases over the period, "
            "aim 60 % (2 met, 2 missed, 0 pending).") in html
    assert '<th scope="row">Qualified within 3 days</th><td data-label="period">2026-10</td>' \
        in html
