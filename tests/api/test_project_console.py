"""A project in the web console: listed, its case page with the diagram and milestones, a
milestone completed from the page, and a refusal shown in the API's words."""

from __future__ import annotations

import re

from tests import factories
from tests.api.conftest import Api
from tests.api.test_console import api_says, csrf_of, said, signed_in
from tests.api.test_projects import project
from tests.waiting import eventually


async def test_a_manager_follows_and_moves_a_project_from_the_console(api: Api) -> None:
    sale_id = await factories.sale(api.sessions, api.team)
    body = (await api.call("POST", f"/sales/{sale_id}/project", "rep")).json()
    project_id, kick_off = body["id"], body["milestones"][0]["id"]
    await eventually(lambda: _active(api, project_id))
    manager = await signed_in(api, "manager")

    listed = await manager.get("/console/projects?scope=mine")
    assert f'href="/console/projects/{project_id}">Project {project_id}: Acme: standard' in (
        listed.text)
    case = await manager.get(f"/console/projects/{project_id}")
    assert re.search(r'class="step current" data-status="active" aria-current="step"',
                     case.text)
    assert "Kick-off workshop: due" in case.text and "Complete Go-live" in case.text
    done = await manager.post(
        f"/console/projects/{project_id}/milestones/{kick_off}/complete",
        data={"csrf": csrf_of(case.text)})
    assert (done.status_code, done.headers["location"]) == (
        303, f"/console/projects/{project_id}")
    assert (await project(api, project_id))["milestones"][0]["state"] == "completed"

    rep = await signed_in(api, "other_rep")
    page = await rep.get(f"/console/projects/{project_id}")
    refused = await rep.post(f"/console/projects/{project_id}/cancel",
                             data={"csrf": csrf_of(page.text), "reason": "mine now"})
    assert refused.status_code == 403
    assert await api_says(api, "other_rep", "POST", f"/projects/{project_id}/cancel",
                          reason="mine now") in said(refused)
    await manager.aclose()
    await rep.aclose()


async def _active(api: Api, project_id: int) -> bool:
    return (await project(api, project_id))["status"] == "active"
