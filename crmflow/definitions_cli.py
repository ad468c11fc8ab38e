"""``crmflow workflows``: check and publish workflow definitions kept as files (for teams
that keep their definitions in git, reviewed like code)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from crm.settings import Settings


def _document(path: Path) -> dict[str, Any]:
    from crm.own import reading

    return reading.parse_text(path.read_text(encoding="utf-8"))


def validate(path: Path, settings: Settings) -> int:
    """0 when the definition may be published; else 1, one line per problem."""
    from crm.own import reading
    from crm.policies import PolicyStore

    policies = PolicyStore(settings.policy_file).current()
    try:
        definition = reading.definition(_document(path), policies)
    except reading.Invalid as error:
        for problem in error.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    print(f"{path}: valid — {definition.name!r}, {len(definition.steps)} steps on a "
          f"{definition.object}")
    return 0


async def publish(path: Path, by_email: str, settings: Settings) -> int:
    """Publish the file as the next version of the definition of its name (created when
    new); 1 with every problem when it cannot be."""
    from crm import db
    from crm.errors import ServiceUnavailable
    from crm.own import reading
    from crm.policies import PolicyStore

    policies = PolicyStore(settings.policy_file).current()
    try:
        data = _document(path)
        checked = reading.definition(data, policies)
    except reading.Invalid as error:
        for problem in error.problems:
            print(f"{path}: {problem}", file=sys.stderr)
        return 1
    engine = db.create_engine(settings.database_url)
    try:
        return await _publish(engine, data, checked, by_email, settings, policies)
    except ServiceUnavailable as error:  # a scheduled trigger's schedule: nothing published
        print(f"{path}: {error.detail}", file=sys.stderr)
        return 3
    finally:
        await engine.dispose()


async def _publish(engine: Any, data: dict[str, Any], checked: Any, by_email: str,
                   settings: Settings, policies: Any) -> int:
    """Create or redraft, then publish, in one transaction (with the schedule of a
    scheduled trigger, kept before the commit)."""
    from sqlalchemy import select

    from crm import db
    from crm.models import User, WorkflowDefinition
    from crm.own import definitions, schedules
    from crm.temporal import connect

    async with db.unit_of_work(db.create_sessions(engine)) as session:
        user = await session.scalar(select(User).where(User.email == by_email.lower()))
        if user is None or not user.active:
            print(f"--by {by_email}: no active user with this email", file=sys.stderr)
            return 2
        row = await session.scalar(select(WorkflowDefinition).where(
            WorkflowDefinition.name == checked.name,
            WorkflowDefinition.object_type == checked.object,
            WorkflowDefinition.status != "archived"))
        if row is None:
            row = await definitions.create(session=session, data=data, policies=policies,
                                           by=user)
        else:
            definitions.may_edit(row, await definitions.governing(session=session,
                                                                  row=row), user)
            await definitions.save_draft(session=session, row=row, data=data,
                                         policies=policies)
        before = await definitions.active(session=session, row=row)
        version = await definitions.publish(session=session, row=row, policies=policies,
                                            by=user)
        await schedules.follow(session, row, before, policies, settings,
                               lambda: connect(settings))
        print(f"published {checked.name!r} as version {version.version} of workflow "
              f"definition {row.id}")
    return 0
