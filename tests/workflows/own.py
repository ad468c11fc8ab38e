"""Your own workflows in workflow tests: a definition published and objects enrolled the
way the API does it (recorded, committed, then started), on the harness's task queue."""

from __future__ import annotations

from typing import Any

import yaml
from temporalio.client import WorkflowHandle

from crm import db
from crm.models import User, WorkflowDefinition
from crm.own import definitions, enrolments
from crm.policies import Policies
from crm.settings import Settings
from tests.histories.world import World
from tests.workflows.conftest import Harness

Place = Harness | World
"""Where a test or a recorded scenario runs: the time-skipping server, a CRM, a queue."""



async def published(h: Place, text: str, by: User,
                    policies: Policies | None = None) -> WorkflowDefinition:
    """A definition created from YAML and published as its version 1."""
    async with db.unit_of_work(h.sessions) as session:
        row = await definitions.create(session=session, data=yaml.safe_load(text),
                                       policies=policies or Policies(), by=by)
        await definitions.publish(session=session, row=row, policies=policies or Policies(),
                                  by=by)
        return row


async def republished(h: Place, definition_id: int, text: str, by: User) -> int:
    """A new draft published: the version number."""
    async with db.unit_of_work(h.sessions) as session:
        row = await definitions.get(session=session, definition_id=definition_id)
        await definitions.save_draft(session=session, row=row, data=yaml.safe_load(text),
                                     policies=Policies())
        return (await definitions.publish(session=session, row=row, policies=Policies(),
                                          by=by)).version


async def enrolled(h: Place, definition_id: int, object_id: int, by: User | None,
                   policies: Policies | None = None) -> WorkflowHandle[Any, Any]:
    """The object enrolled in the active version and its enrolment started."""
    settings = Settings(temporal_task_queue=h.task_queue)
    async with h.sessions() as session:
        row = await definitions.get(session=session, definition_id=definition_id)
        made = await enrolments.enrol(session=session, row=row, object_ids=[object_id],
                                      policies=policies or Policies(), by=by)
        await session.commit()
        [handle] = await enrolments.launch(session, h.env.client, settings, made)
        return handle


ENTERPRISE_FR = """
name: New enterprise lead in France
object: lead
trigger: {when: created, condition: 'lead.country == "FR" and lead.budget > 10000'}
goal: {condition: 'lead.status == "qualified"'}
templates:
  welcome: {subject: "Bienvenue, {lead.name}", body: "Hello {lead.name} of {lead.company}."}
  remind: {subject: "Lead {lead.name} is not qualified yet", body: "Please call them."}
steps:
  - {id: welcome, send_email: {template: welcome}}
  - {id: pause, wait: {for: 2d, calendar: office}}
  - {id: call, task: {title: "Call {lead.name}", assign: least_loaded, due: 1d}}
  - id: qualified_in_time
    wait_for: {condition: 'lead.status == "qualified"', timeout: 5d, on_timeout: remind}
  - {id: done, end: {outcome: qualified in time}}
  - {id: remind, notify: {to: owner, template: remind}}
  - {id: escalate, task: {title: "Lead {lead.name}: not qualified in 5 days", assign: manager}}
  - {id: escalated, end: {outcome: escalated to the manager}}
"""


LOOP = """
name: White paper follow-up
object: lead
templates:
  paper: {subject: "Our white paper, {lead.name}", body: "Here it is."}
  offer: {subject: "An offer", body: "10 % off."}
steps:
  - {id: send_paper, send_email: {template: paper}}
  - id: downloaded
    wait_for: {event: content_downloaded, timeout: 3d, on_timeout: again}
  - {id: demo, end: {outcome: downloaded}}
  - {id: again, go_to: {step: send_paper, times: 2}}
  - {id: offer, send_email: {template: offer}}
"""
