"""``crmflow simulate``, as a team that keeps its policy in a file runs it: the summary
printed, the whole result as JSON, a clear refusal for what cannot be simulated."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from crm import db
from crm.models.base import utcnow
from tests import factories
from tests.simulation.cases import Decision, past_quote

DAY = timedelta(days=1)


def crmflow(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")},
           "CRMFLOW_DATABASE_URL": url}
    return subprocess.run([str(Path(sys.executable).parent / "crmflow"), *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


async def test_the_summary_of_a_shorter_timeout_over_the_last_weeks(
    sqlite_url: str, tmp_path: Path,
) -> None:
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    team = await factories.sales_team(sessions)
    ten_days_ago = utcnow() - 10 * DAY
    nobody = await past_quote(sessions, team, "25", ten_days_ago)
    late = await past_quote(sessions, team, "30", ten_days_ago + DAY,
                            Decision(3 * DAY, "rejected", team.manager, "too much"))
    await past_quote(sessions, team, "25", utcnow() - 60 * DAY)  # before the period
    await engine.dispose()
    policy = tmp_path / "new.toml"
    policy.write_text('[quote_approval]\napproval_timeout = "P2D"\n')

    shown = crmflow("simulate", "--process", "quote_approval", "--policy", str(policy),
                    "--since", "30d", url=sqlite_url)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == (
        "quote_approval: 2 cases, each under the policy in force and with "
        "approval_timeout = P2D")
    assert f"rejected → validated: 1 (quote {late} submission 1)" in shown.stdout
    assert f"outcome sooner: 1 (quote {nobody} submission 1)" in shown.stdout

    whole = crmflow("simulate", "--process", "quote_approval", "--policy", str(policy),
                    "--since", "30d", "--json", url=sqlite_url)
    assert whole.returncode == 0, whole.stderr
    result = json.loads(whole.stdout)
    assert [c["object_id"] for c in result["cases"]] == [nobody, late]

    policy.write_text('[quote_approval]\npatience = "P2D"\n')
    refused = crmflow("simulate", "--process", "quote_approval", "--policy", str(policy),
                      url=sqlite_url)
    assert refused.returncode == 2
    assert "policy: [quote_approval] has unknown key 'patience'" in refused.stderr
