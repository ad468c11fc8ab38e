"""Your own workflows through the API: a definition created, refused at its step, published,
versioned and archived; leads enrolled by hand, by their creation and by an event; the
emails that arrive and the enrolment's rows."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.service import RPCError

from crm import db
from crm.models import Enrolment, ProcessStart, WorkflowDefinition
from tests import factories
from tests.api.conftest import Api
from tests.waiting import eventually

WELCOME = {
    "name": "French enterprise welcome",
    "object": "lead",
    "trigger": {"when": "created", "condition": 'lead.country == "FR" and lead.budget > 10000'},
    "templates": {"hello": {"subject": "Bonjour {lead.name}", "body": "Welcome aboard."},
                  "paper": {"subject": "Our white paper", "body": "Here it is."}},
    "steps": [
        {"id": "hello", "send_email": {"template": "hello"}},
        {"id": "downloaded", "wait_for": {"event": "content_downloaded", "timeout": "7d"}},
        {"id": "thanks", "send_email": {"template": "paper"}},
    ],
}


async def create(api: Api, document: dict[str, Any], who: str = "admin") -> dict[str, Any]:
    response = await api.call("POST", "/workflow-definitions", who,
                              json={"definition": document})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def publish(api: Api, definition_id: int, who: str = "admin") -> dict[str, Any]:
    response = await api.call("POST", f"/workflow-definitions/{definition_id}/publish", who)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def new_lead(api: Api, email: str, **fields: Any) -> dict[str, Any]:
    response = await api.call("POST", "/leads", "website", json={
        "name": "Zoé", "email": email, "team_id": api.team.rep.team_id, **fields})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def enrolments_of(api: Api, lead_id: int) -> list[Enrolment]:
    async with api.sessions() as session:
        return list(await session.scalars(select(Enrolment).where(
            Enrolment.object_id == lead_id).order_by(Enrolment.id)))


async def test_a_published_definition_enrols_the_leads_it_is_for_when_they_are_created(
    api: Api,
) -> None:
    definition = await create(api, WELCOME)
    assert (definition["status"], definition["active_version"]) == ("draft", None)
    published = await publish(api, definition["id"])
    assert (published["status"], published["active_version"], published["draft"]) == (
        "active", 1, None)
    assert published["versions"][0]["definition"] == WELCOME

    french = await new_lead(api, "zoe@acme.example", country="FR", budget="50000")
    small = await new_lead(api, "tom@acme.example", country="FR", budget="500")
    [hello] = await eventually(lambda: api.mail.to("zoe@acme.example") and [
        m for m in api.mail.to("zoe@acme.example") if m.subject == "Bonjour Zoé"])
    assert "Welcome aboard." in hello.message.get_body(("plain",)).get_content()
    assert await enrolments_of(api, small["id"]) == []  # a budget under the condition
    [enrolment] = await enrolments_of(api, french["id"])
    assert (enrolment.definition_id, enrolment.version, enrolment.workflow_id) == (
        definition["id"], 1, f"definition-{definition['id']}-lead-{french['id']}")

    # The download reaches the lead's process and its enrolment alike.
    response = await api.call("POST", f"/leads/{french['id']}/events", "website",
                              json={"type": "content_downloaded", "content": "white_paper"})
    assert response.status_code == 202, response.text
    handle = api.temporal.get_workflow_handle(enrolment.workflow_id)
    assert (await handle.result())["status"] == "completed"
    assert "Our white paper" in [m.subject for m in api.mail.to("zoe@acme.example")]

    answer = await api.call("GET", f"/enrolments/{enrolment.id}", "manager")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["step"]) == ("completed", "thanks")
    assert [s["step"] for s in body["steps"]] == ["hello", "downloaded", "thanks"]
    listed = await api.call("GET", f"/workflow-definitions/{definition['id']}/enrolments",
                            "rep")
    assert [e["id"] for e in listed.json()] == [enrolment.id]


async def test_a_manager_enrols_leads_by_hand_once_each(api: Api) -> None:
    manual = {**WELCOME, "trigger": {"when": "manual"},
              "roles": {"enrol": ["sales_manager"], "edit": ["admin", "sales_manager"]}}
    definition = await create(api, manual, who="manager")
    await publish(api, definition["id"], who="manager")
    first = await new_lead(api, "ann@acme.example")
    second = await new_lead(api, "bea@acme.example")
    path = f"/workflow-definitions/{definition['id']}/enrol"

    response = await api.call("POST", path, "manager",
                              json={"object_ids": [first["id"], second["id"]]})
    assert response.status_code == 201, response.text
    assert [e["object_id"] for e in response.json()] == [first["id"], second["id"]]
    await eventually(lambda: api.mail.to("ann@acme.example") and api.mail.to(
        "bea@acme.example"))

    again = await api.call("POST", path, "manager", json={"object_ids": [first["id"]]})
    assert again.status_code == 409
    assert again.json()["detail"].startswith(
        f"lead {first['id']} is enrolled in workflow definition {definition['id']} already")
    by_a_rep = await api.call("POST", path, "rep", json={"object_ids": [second["id"]]})
    assert by_a_rep.status_code == 403
    assert "enrols on the word of sales_manager; you are sales_rep" in by_a_rep.json()[
        "detail"]
    missing = await api.call("POST", path, "manager", json={"object_ids": [999]})
    assert missing.status_code == 404
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(Enrolment.id))) == 2


async def test_a_definition_at_fault_is_refused_naming_each_step_and_nothing_is_kept(
    api: Api,
) -> None:
    faulty = {**WELCOME, "steps": [
        {"id": "hello", "send_email": {"template": "bye"}},
        {"id": "pause", "wait": {"for": "2d", "calendar": "moon"}},
        {"id": "call", "task": {"title": "Call {lead.shoe_size}"}},
    ]}
    response = await api.call("POST", "/workflow-definitions", "admin",
                              json={"definition": faulty})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {"field": "steps.hello",
         "message": "template: no template 'bye' in this definition (it has hello, paper)"},
        {"field": "steps.pause", "message": "calendar: no calendar 'moon' (calendars: office)"},
        {"field": "steps.call", "message": "title: {lead.shoe_size}: a lead has no such field"},
    ]
    yaml_text = "name: x\nobject: lead\nsteps:\n  - {id: a, wait: {for: soon}}\n"
    response = await api.call("POST", "/workflow-definitions", "admin", json={"yaml": yaml_text})
    assert response.status_code == 422
    assert response.json()["errors"] == [{
        "field": "steps.a", "message": "steps.0.wait.for: 'soon' is not a duration (write "
                                        "90m, 5h, 2d or 1w)"}]
    by_a_rep = await api.call("POST", "/workflow-definitions", "rep",
                              json={"definition": WELCOME})
    assert by_a_rep.status_code == 403
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(WorkflowDefinition.id))) == 0


async def test_publishing_a_new_version_leaves_running_enrolments_on_theirs(api: Api) -> None:
    manual = {**WELCOME, "trigger": {"when": "manual"}}
    definition = await create(api, manual)
    await publish(api, definition["id"])
    first = await new_lead(api, "ann@acme.example")
    path = f"/workflow-definitions/{definition['id']}/enrol"
    assert (await api.call("POST", path, "admin", json={"object_ids": [first["id"]]})
            ).status_code == 201

    second_version = {**manual, "templates": {
        **manual["templates"], "paper": {"subject": "White paper v2", "body": "New."}}}
    draft = await api.call("PUT", f"/workflow-definitions/{definition['id']}/draft", "admin",
                           json={"definition": second_version})
    assert draft.status_code == 200 and draft.json()["active_version"] == 1
    assert (await publish(api, definition["id"]))["active_version"] == 2
    second = await new_lead(api, "bea@acme.example")
    assert (await api.call("POST", path, "admin", json={"object_ids": [second["id"]]})
            ).status_code == 201
    for lead in (first, second):
        response = await api.call("POST", f"/leads/{lead['id']}/events", "website",
                                  json={"type": "content_downloaded", "content": "x"})
        assert response.status_code == 202
    for lead in (first, second):
        [enrolment] = await enrolments_of(api, lead["id"])
        await api.temporal.get_workflow_handle(enrolment.workflow_id).result()
    assert api.mail.to("ann@acme.example")[-1].subject == "Our white paper"
    assert api.mail.to("bea@acme.example")[-1].subject == "White paper v2"
    assert [e.version for lead in (first, second)
            for e in await enrolments_of(api, lead["id"])] == [1, 2]

    archived = await api.call("POST", f"/workflow-definitions/{definition['id']}/archive",
                              "admin")
    assert archived.json()["status"] == "archived"
    third = await new_lead(api, "cid@acme.example")
    refused = await api.call("POST", path, "admin", json={"object_ids": [third["id"]]})
    assert refused.status_code == 409
    assert refused.json()["detail"] == (
        f"workflow definition {definition['id']} is archived: only an active definition "
        f"enrols")


async def test_an_enrolment_is_cancelled_once(api: Api) -> None:
    definition = await create(api, {**WELCOME, "trigger": {"when": "manual"}})
    await publish(api, definition["id"])
    lead = await new_lead(api, "ann@acme.example")
    [enrolment] = (await api.call("POST", f"/workflow-definitions/{definition['id']}/enrol",
                                  "admin", json={"object_ids": [lead["id"]]})).json()
    response = await api.call("POST", f"/enrolments/{enrolment['id']}/cancel", "manager",
                              json={"reason": "enrolled by mistake"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["outcome"]) == (
        "cancelled", "enrolled by mistake")
    again = await api.call("POST", f"/enrolments/{enrolment['id']}/cancel", "manager",
                           json={"reason": "again"})
    assert again.status_code == 409
    assert again.json()["detail"] == (
        f"enrolment {enrolment['id']} is cancelled: only a running enrolment can be "
        f"cancelled")
    async with db.unit_of_work(api.sessions) as session:
        starts = await session.scalar(select(func.count(ProcessStart.id)).where(
            ProcessStart.process == "own_workflow"))
    assert starts == 1


async def test_a_webhook_to_a_host_no_admin_allowed_is_refused_naming_its_step(
    api: Api,
) -> None:
    hooked = {**WELCOME, "trigger": {"when": "manual"}, "steps": [
        {"id": "score", "webhook": {"url": "https://169.254.169.254/latest/meta-data",
                                    "answer": {"score": "number", "tier": "text"}}},
        {"id": "hot", "branch": {"if": "score.score > 50 and score.rank > 1", "then": "hello"}},
        {"id": "hello", "send_email": {"template": "hello"}},
    ]}
    response = await api.call("POST", "/workflow-definitions", "admin",
                              json={"definition": hooked})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "steps.score", "message": "url: 169.254.169.254 is not a host an admin "
                                            "allows webhooks to call ([own_workflows] "
                                            "webhook_hosts: none)"},
        {"field": "steps.hot", "message": "if: score.rank: this workflow follows a lead, so "
                                          "its fields are lead.…"},
    ]
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(WorkflowDefinition.id))) == 0
    hooked["steps"][0]["webhook"]["answer"]["tier"] = "colour"
    response = await api.call("POST", "/workflow-definitions", "admin",
                              json={"definition": hooked})
    assert response.json()["errors"] == [{
        "field": "steps.score",
        "message": "steps.0.webhook.answer.tier: 'colour' is not one of ['text', 'number', "
                   "'flag']"}]
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(WorkflowDefinition.id))) == 0


APPROVAL = {
    "name": "Discount approval",
    "object": "quote",
    "templates": {"ask": {"subject": "Approve quote {quote.id}?", "body": "Please decide."},
                  "done": {"subject": "Quote {quote.id} approved", "body": "Send it."}},
    "steps": [
        {"id": "approval", "approval": {"approvers": "sales_manager", "template": "ask",
                                        "timeout": "5d"}},
        {"id": "tell", "notify": {"to": "owner", "template": "done"}},
    ],
}


async def test_an_approval_is_decided_once_by_a_manager_never_by_the_author(api: Api) -> None:
    definition = await create(api, APPROVAL)
    await publish(api, definition["id"])
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="25")
    [enrolment] = (await api.call("POST", f"/workflow-definitions/{definition['id']}/enrol",
                                  "admin", json={"object_ids": [quote.id]})).json()
    await eventually(lambda: api.mail.to(api.team.manager.email))
    decision = f"/enrolments/{enrolment['id']}/decision"

    author = await api.call("POST", decision, "rep", json={"approve": True})
    assert author.status_code == 403, author.text
    assert author.json()["detail"] == (
        f"the author of quote {quote.id} cannot approve or reject it")
    silent = await api.call("POST", decision, "manager", json={"approve": False})
    assert silent.status_code == 409, silent.text  # as a quote's rejection: what is missing
    assert silent.json()["missing"] == ["comment"]

    approved = await api.call("POST", decision, "manager",
                              json={"approve": True, "comment": "fair"})
    assert approved.status_code == 200, approved.text
    assert approved.json()["steps"][0]["note"] == "approved by Maria: fair"
    await eventually(lambda: api.mail.to(api.team.rep.email))
    assert [m.subject for m in api.mail.to(api.team.rep.email)] == [
        f"Quote {quote.id} approved"]
    again = await api.call("POST", decision, "other_manager", json={"approve": True})
    assert again.status_code == 409, again.text


MONDAYS = {
    "name": "Monday follow-up",
    "object": "lead",
    "trigger": {"when": "schedule", "days": ["monday"], "at": "09:00",
                "condition": 'lead.country == "FR"'},
    "templates": {"hello": {"subject": "Bonne semaine, {lead.name}", "body": "À lundi."}},
    "steps": [{"id": "hello", "send_email": {"template": "hello"}}],
}


async def test_a_scheduled_trigger_is_a_temporal_schedule_that_enrols_what_meets_it(
    api: Api,
) -> None:
    french = await new_lead(api, "ann@acme.example", country="FR")
    await new_lead(api, "hans@acme.example", country="DE")
    definition = await create(api, MONDAYS)
    await publish(api, definition["id"])

    schedule = api.temporal.get_schedule_handle(f"definition-{definition['id']}-schedule")
    described = await schedule.describe()
    [calendar] = described.schedule.spec.calendars
    assert [(r.start, r.end) for r in calendar.day_of_week] == [(1, 1)]  # Monday
    assert [r.start for r in calendar.hour] == [9] and [r.start for r in calendar.minute] == [0]
    assert described.schedule.spec.time_zone_name == "Europe/Paris"  # the office calendar's

    await schedule.trigger()  # as Monday 9:00 would
    [enrolled] = await eventually(lambda: enrolments_of(api, french["id"]))
    assert enrolled.definition_id == definition["id"]
    await eventually(lambda: [m for m in api.mail.to("ann@acme.example")
                              if m.subject == "Bonne semaine, Zoé"])
    await schedule.trigger()  # the next Monday: enrolled once, and the German lead never
    runs = await eventually(lambda: _finished_runs(api, definition["id"], 2))
    assert sorted(runs) == [0, 1]
    async with api.sessions() as session:
        assert await session.scalar(select(func.count(Enrolment.id))) == 1

    archived = await api.call("POST", f"/workflow-definitions/{definition['id']}/archive",
                              "admin")
    assert archived.status_code == 200, archived.text
    with pytest.raises(RPCError):
        await schedule.describe()


async def _finished_runs(api: Api, definition_id: int, count: int) -> list[int] | None:
    """What each finished scheduled run enrolled, once ``count`` have finished."""
    found = []
    async for run in api.temporal.list_workflows(
            f"WorkflowType = 'ScheduledEnrolments' AND ExecutionStatus = 'Completed' AND "
            f"WorkflowId STARTS_WITH 'definition-{definition_id}-schedule'"):
        found.append(await api.temporal.get_workflow_handle(
            run.id, run_id=run.run_id).result())
    return found if len(found) >= count else None


async def test_publishing_a_version_without_the_schedule_removes_it(api: Api) -> None:
    definition = await create(api, MONDAYS)
    await publish(api, definition["id"])
    manual = {**MONDAYS, "trigger": {"when": "manual"}}
    redrafted = await api.call("PUT", f"/workflow-definitions/{definition['id']}/draft",
                               "admin", json={"definition": manual})
    assert redrafted.status_code == 200, redrafted.text
    await publish(api, definition["id"])
    with pytest.raises(RPCError):
        await api.temporal.get_schedule_handle(
            f"definition-{definition['id']}-schedule").describe()


DISCOUNT_WATCH = {
    "name": "Large discount watch",
    "object": "quote",
    "trigger": {"when": "field_set", "field": "discount_pct",
                "condition": "quote.discount_pct > 30"},
    "templates": {"watch": {"subject": "Quote {quote.id}: {quote.discount_pct} % off",
                            "body": "Have a look before it is submitted."}},
    "steps": [{"id": "watch", "notify": {"to": "manager", "template": "watch"}}],
}


async def test_a_field_changed_by_its_author_enrols_the_quote_in_the_workflow_it_triggers(
    api: Api,
) -> None:
    definition = await create(api, DISCOUNT_WATCH)
    await publish(api, definition["id"])
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="10")

    small = await api.call("PATCH", f"/quotes/{quote.id}", "rep", json={"currency": "EUR",
                                                                       "discount_pct": 20})
    assert small.status_code == 200, small.text
    large = await api.call("PATCH", f"/quotes/{quote.id}", "rep", json={"discount_pct": 35})
    assert large.status_code == 200, large.text
    [watch] = await eventually(lambda: api.mail.to(api.team.manager.email))
    assert watch.subject == f"Quote {quote.id}: 35 % off"
    [enrolment] = (await api.call("GET", f"/workflow-definitions/{definition['id']}/"
                                  "enrolments", "admin")).json()
    assert enrolment["object_id"] == quote.id  # once: 20 % did not meet the condition


STATUS_STEP = {
    "name": "Close the quiet leads",
    "object": "lead",
    "steps": [{"id": "close", "set_status": {"status": "disqualified",
                                             "reason": "{lead.name} never answered"}}],
}


async def test_a_status_step_is_asked_of_the_lead_process_and_shown_on_the_enrolment(
    api: Api,
) -> None:
    definition = await create(api, STATUS_STEP, who="manager")
    await publish(api, definition["id"], who="manager")
    lead = await new_lead(api, "quiet@acme.example")
    [enrolment] = (await api.call("POST", f"/workflow-definitions/{definition['id']}/enrol",
                                  "manager", json={"object_ids": [lead["id"]]})).json()

    async def ended() -> Any:
        found = (await api.call("GET", f"/enrolments/{enrolment['id']}", "admin")).json()
        return found if found["status"] != "running" else None

    seen = await eventually(ended)
    assert seen["status"] == "completed"
    assert seen["steps"][0]["note"] == (f"lead {lead['id']} is disqualified, asked of its "
                                        f"process on the word of {api.team.manager.name}")
    detail = (await api.call("GET", f"/leads/{lead['id']}", "admin")).json()
    assert detail["status"] == "disqualified"
    assert detail["history"][-1]["reason"] == "Zoé never answered"
