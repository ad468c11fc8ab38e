"""Simulations through the API: asked by a sales manager for their team, run by the worker
as a durable SimulationRun, followed until done; nothing of the CRM changes, no email goes
out, no live process starts. Every refusal names its field or rule and records nothing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from crm.models import Simulation
from tests.api.conftest import Api
from tests.simulation.cases import LAST_QUARTER, Decision, past_quote
from tests.simulation.test_quote_simulation import rows
from tests.waiting import eventually

DAY = timedelta(days=1)


async def test_a_manager_simulates_a_shorter_timeout_over_the_team_s_past_quotes(
    api: Api,
) -> None:
    team = api.team
    nobody = await past_quote(api.sessions, team, "25", LAST_QUARTER)
    late = await past_quote(api.sessions, team, "30", LAST_QUARTER + DAY,
                            Decision(3 * DAY, "rejected", team.manager, "too much"))
    before = await rows(api.sessions)

    asked = await api.call("POST", "/simulations", "manager", json={
        "process": "quote_approval", "policy": {"approval_timeout": "P2D"},
        "cases": {"from": "2026-09-01T00:00:00Z"}})
    assert asked.status_code == 202, asked.text
    simulation = asked.json()
    assert (simulation["status"], simulation["team_id"]) == ("queued", team.manager.team_id)

    async def done() -> dict[str, Any] | None:
        found = (await api.call("GET", f"/simulations/{simulation['id']}", "manager")).json()
        return found if found["status"] in ("done", "failed") else None

    found = await eventually(done, timeout=120)
    assert found["status"] == "done", found["error"]
    assert found["progress"] == {"done": 2, "total": 2}
    summary = found["result"]["summary"]
    assert summary["changed"] == {"rejected → validated": [f"quote {late} submission 1"]}
    assert summary["sooner"] == [f"quote {nobody} submission 1"]
    assert found["result"]["policy"]["proposed"]["approval_timeout"] == "P2D"
    assert found["result"]["policy"]["in_force"]["approval_timeout"] == "P5D"

    # Nothing happened outside the simulation: the same rows, no email, and the only
    # workflow on the live server is the simulation's own run.
    assert await rows(api.sessions) == {**before, "simulations": 1}
    assert api.mail.messages == []
    live = [w.workflow_type async for w in api.temporal.list_workflows()]
    assert live == ["SimulationRun"]
    listed = (await api.call("GET", "/simulations", "manager")).json()
    assert [s["id"] for s in listed] == [simulation["id"]]
    foreign = await api.call("GET", f"/simulations/{simulation['id']}", "foreign_manager")
    assert foreign.status_code == 403, foreign.text


async def test_what_cannot_be_simulated_is_refused_naming_the_field_and_records_nothing(
    api: Api,
) -> None:
    other_team = await past_quote(api.sessions, api.team, "25", LAST_QUARTER)
    refusals = [
        ("manager", {"process": "cooking"}, 422, "process"),
        ("manager", {"process": "quote_approval", "policy": {"patience": "P2D"}}, 422,
         "policy"),
        ("manager", {"process": "quote_approval", "policy": {"approval_timeout": "soon"}},
         422, "policy"),
        ("admin", {"process": "quote_approval", "cases": {"team": 999_999}}, 422,
         "cases.team"),
        ("manager", {"definition": {"id": 999_999}}, 422, "definition.id"),
        ("manager", {"process": "quote_approval", "definition": {"id": 1}}, 422, "process"),
        ("rep", {"process": "quote_approval"}, 403, None),
        ("accountant", {"process": "quote_approval"}, 403, None),
        ("manager", {"process": "invoice_dunning"}, 403, None),
        ("foreign_manager", {"process": "quote_approval", "cases": [other_team]}, 403, None),
        ("foreign_manager", {"process": "quote_approval",
                             "cases": {"team": api.team.manager.team_id}}, 403, None),
    ]
    for who, body, code, field in refusals:
        answer = await api.call("POST", "/simulations", who, json=body)
        assert answer.status_code == code, (body, answer.text)
        if field is not None:
            [error] = answer.json()["errors"]
            assert error["field"] == field, answer.json()
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(Simulation.id))) == 0


async def test_a_scenario_of_made_up_quotes_is_played_by_the_team_s_people(api: Api) -> None:
    asked = await api.call("POST", "/simulations", "manager", json={
        "process": "quote_approval", "policy": {"approval_timeout": "P2D"},
        "scenario": [
            {"discount_pct": 25},
            {"discount_pct": 30, "happenings": [{"after": "P3D", "status": "rejected"}]},
            {"discount_pct": 10, "happenings": [{"after": "PT2H", "status": "sent"},
                                                {"after": "P4D", "status": "won"}]}]})
    assert asked.status_code == 202, asked.text

    async def done() -> dict[str, Any] | None:
        found = (await api.call("GET", f"/simulations/{asked.json()['id']}", "manager")).json()
        return found if found["status"] in ("done", "failed") else None

    found = await eventually(done, timeout=120)
    assert found["status"] == "done", found["error"]
    summary = found["result"]["summary"]
    assert summary["changed"] == {"rejected → validated": ["scenario quote 2"]}
    assert summary["sooner"] == ["scenario quote 1"]
    won = {c["case"]: c for c in found["result"]["cases"]}["scenario quote 3"]
    assert (won["current"]["ended"], won["proposed"]["ended"]) == ("won", "won")
    asked_of = {m["detail"] for c in found["result"]["cases"]
                for m in c["current"]["timeline"] if m["what"] == "approval_request"}
    assert asked_of == {api.team.manager.email, api.team.other_manager.email}

    for who, body, field in (
            ("admin", {"process": "quote_approval", "scenario": [{"discount_pct": 25}]},
             "cases.team"),  # an admin has no team: the scenario names one
            ("admin", {"process": "invoice_dunning", "scenario": [{"discount_pct": 5}]},
             "scenario"),
            ("manager", {"process": "quote_approval", "scenario": [{"discount_pct": 120}]},
             "scenario.0.discount_pct"),
            ("manager", {"process": "quote_approval", "scenario": [{"discount_pct": 5}],
                         "cases": [1]}, "cases")):
        answer = await api.call("POST", "/simulations", who, json=body)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        assert error["field"] == field, error
