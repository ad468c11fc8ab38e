"""``python -m bench.insights`` runs on a small history and reports every view over both
periods (never a speed: the numbers are whatever this machine gives)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.insights import ASKED

ROOT = Path(__file__).resolve().parent.parent


def test_the_insights_bench_times_every_view_over_a_seeded_history(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench.insights", "--changes", "4000", "--repeat", "1",
         "--database", "sqlite", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    [result] = json.loads((tmp_path / "insights.json").read_text())
    assert result["changes"] == 4000 and result["objects"]["lead"] == 600
    assert len(result["rows"]) == 2 * len(ASKED)
    assert {row["period"] for row in result["rows"]} == {"last 90 days", "all"}
    assert all(row["median_ms"] > 0 and isinstance(row["met"], bool) for row in result["rows"])
    assert "| funnel | lead_to_sale | last 90 days |" in run.stdout
