"""Simulating a draft of your own workflow over the leads of the last 30 days, against its
active version: which leads each would enrol, and the emails and tasks each run makes —
the lead's real events replayed at their distance from its creation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import yaml

from crm import db
from crm.models import Lead, LeadEvent
from crm.models.base import utcnow
from crm.own import definitions
from crm.policies import Policies
from simulation.cases import Selection
from simulation.service import Asked, OwnAsked, simulate
from tests import factories
from tests.simulation.test_quote_simulation import rows

DAY = timedelta(days=1)
ACTIVE = """
name: Enterprise welcome
object: lead
trigger: {when: created, condition: 'lead.country == "FR" and lead.budget > 10000'}
templates:
  hello: {subject: "Bonjour {lead.name}", body: "Welcome."}
  paper: {subject: "Thanks for reading, {lead.name}", body: "Shall we talk?"}
steps:
  - {id: hello, send_email: {template: hello}}
  - {id: read, wait_for: {event: content_downloaded, timeout: 3d}}
  - {id: thanks, send_email: {template: paper}}
"""
DRAFT = """
name: Enterprise welcome
object: lead
trigger: {when: created, condition: 'lead.country == "FR"'}
templates:
  hello: {subject: "Bonjour {lead.name}", body: "Welcome."}
steps:
  - {id: hello, send_email: {template: hello}}
  - {id: call, task: {title: "Call {lead.name}", assign: owner, due: 1d}}
  - {id: later, wait: {for: 1d}}
"""


async def lead_created(sessions: db.Sessions, days_ago: int, **fields: object) -> int:
    row = await factories.lead(sessions, **fields)
    async with db.unit_of_work(sessions) as session:
        found = await session.get(Lead, row.id)
        assert found is not None
        found.created_at = utcnow() - days_ago * DAY
    return row.id


async def test_a_draft_enrols_more_leads_and_gives_each_a_call(database_url: str) -> None:
    engine = db.create_engine(database_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    big = await lead_created(sessions, 20, name="Zoé", country="FR", budget=Decimal(50000),
                             team_id=team.rep.team_id, owner_id=team.rep.id)
    small = await lead_created(sessions, 10, name="Luc", country="FR", budget=Decimal(500),
                               team_id=team.rep.team_id, owner_id=team.rep.id)
    await lead_created(sessions, 40, country="FR", budget=Decimal(90000))  # before the period
    async with db.unit_of_work(sessions) as session:
        session.add(LeadEvent(lead_id=big, type="content_downloaded", content="white_paper",
                              created_at=utcnow() - 18 * DAY))
        row = await definitions.create(session=session, data=yaml.safe_load(ACTIVE),
                                       policies=Policies(), by=team.admin)
        await definitions.publish(session=session, row=row, policies=Policies(), by=team.admin)
        await definitions.save_draft(session=session, row=row, data=yaml.safe_load(DRAFT),
                                     policies=Policies())
    before = await rows(sessions)

    found = await simulate(sessions, Asked(definition=OwnAsked(row.id),
                                           cases=Selection(since=utcnow() - 30 * DAY)),
                           Policies())

    summary = found["summary"]
    assert summary["cases"] == 2
    assert summary["outcomes"] == {"current": {"completed": 1, "none": 1},
                                   "proposed": {"completed": 2}}
    assert summary["changed"] == {"none → completed": [f"lead {small}"]}
    assert summary["work"]["current"]["tasks"] == 0
    assert summary["work"]["proposed"]["tasks"] == 2
    by_case = {c["case"]: c for c in found["cases"]}
    assert by_case[f"lead {small}"]["current"]["ended"] == "not enrolled"

    def emails(run: dict[str, object]) -> list[tuple[float, str]]:
        return [(m["after"] / 86400, m["what"]) for m in run["timeline"]  # type: ignore
                if m["kind"] == "email"]

    # Zoé read the paper two days after she came: the active version thanked her then.
    assert [what for _, what in emails(by_case[f"lead {big}"]["current"])] == [
        "Bonjour Zoé", "Thanks for reading, Zoé"]
    assert [what for _, what in emails(by_case[f"lead {small}"]["proposed"])] == [
        "Bonjour Luc"]
    assert round(emails(by_case[f"lead {big}"]["current"])[1][0], 2) == 2.0
    tasks = [m["what"] for m in by_case[f"lead {big}"]["proposed"]["timeline"]
             if m["kind"] == "task"]
    assert tasks == ["Call Zoé"]
    assert found["policy"] == {"in_force": {"name": "Enterprise welcome", "steps": 3},
                               "proposed": {"name": "Enterprise welcome", "steps": 3}}
    assert await rows(sessions) == before
    await engine.dispose()
