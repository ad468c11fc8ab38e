"""``crmflow simulate``: what a changed policy would have done with past cases, printed —
the same simulation as ``POST /simulations``, run here and now against the CRM database
(a time-skipping server of its own; nothing of the CRM changes, nothing is sent)::

    crmflow simulate --process quote_approval --policy new.toml --since 90d
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from crm.settings import Settings

_AGO = re.compile(r"^(\d+)([dw])$")


def since(text: str) -> timedelta:
    """``90d`` or ``12w``."""
    match = _AGO.match(text.strip())
    if not match:
        raise ValueError(f"--since {text!r}: write a number of days or weeks (90d, 12w)")
    return timedelta(days=int(match.group(1)) * (7 if match.group(2) == "w" else 1))


def changes(path: Path | None, process_table: str) -> dict[str, Any]:
    """The values to change: the process's table of a policy file (``[quote_approval]``)."""
    if path is None:
        return {}
    tables = tomllib.loads(path.read_text(encoding="utf-8"))
    found = tables.get(process_table)
    if not isinstance(found, dict):
        raise ValueError(f"{path}: no [{process_table}] table: it holds the values to change")
    return found


async def simulate(process: str, policy: Path | None, ago: str, team: int | None,
                   as_json: bool, settings: Settings) -> int:
    from crm import db
    from crm.models.base import utcnow
    from crm.policies import PolicyStore
    from simulation.cases import Selection
    from simulation.service import SUBJECTS, Asked, Refused, simulate

    policies = PolicyStore(settings.policy_file).current()
    subject = SUBJECTS.get(process)
    try:
        table = subject.process.policy_table if subject else process
        asked = Asked(process, changes(policy, table),
                      Selection(since=utcnow() - since(ago), team_id=team))
    except (ValueError, tomllib.TOMLDecodeError) as error:
        print(f"crmflow: {error}", file=sys.stderr)
        return 2
    engine = db.create_engine(settings.database_url)

    async def progress(done: int, total: int) -> None:
        print(f"\r{done}/{total} cases", end="", file=sys.stderr, flush=True)

    try:
        result = await simulate(db.create_sessions(engine), asked, policies, progress)
    except Refused as error:
        print(f"crmflow: {error}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(file=sys.stderr)
    print(json.dumps(result, indent=2, default=str) if as_json else text(result))
    return 0


def text(result: dict[str, Any]) -> str:
    """The summary as a manager reads it."""
    summary = result["summary"]
    lines = [f"{result['process']}: {summary['cases']} cases, each under the policy in "
             f"force and with {_changes(result['changes'])}"]
    for moment in ("current", "proposed"):
        outcomes = ", ".join(f"{n} {what}" for what, n in summary["outcomes"][moment].items())
        hours = summary["time_to_outcome_hours"][moment]
        lines.append(f"  {moment:>9}: {outcomes or 'no outcome'}; time to outcome p50 "
                     f"{_hours(hours['p50'])}, p90 {_hours(hours['p90'])}; "
                     f"{summary['emails'][moment]} emails")
    for change, cases in summary["changed"].items():
        lines.append(f"  {change}: {len(cases)} ({', '.join(cases)})")
    for word in ("sooner", "later"):
        if summary[word]:
            lines.append(f"  outcome {word}: {len(summary[word])} ({', '.join(summary[word])})")
    if summary["unanswered"]:
        lines.append(f"  asked what the real cases never gave: {len(summary['unanswered'])} "
                     f"({', '.join(summary['unanswered'])})")
    return "\n".join(lines)


def _changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k} = {v}" for k, v in changes.items()) or "no change"


def _hours(hours: float | None) -> str:
    return "—" if hours is None else f"{hours:g} h"
