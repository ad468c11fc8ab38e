"""The benchmark suite runs and reports every measure (``python -m bench``, the test's tiny
loads, SQLite): the table, the JSON and the plot are produced and well formed, and the floor
(``bench.floor``) has a figure beside crmflow's wherever it does the same work, and passes
its audit. Never a speed: the numbers are whatever this machine gives."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parent.parent
MEASURES = {
    "1 intake: new processes taken in",
    "1 process starts: rate", "1 process starts: p50", "1 process starts: p99",
    "2 short process end to end: completions", "2 short process end to end: p99 duration",
    "3 approval round trip: rate", "3 approval round trip: p50", "3 approval round trip: p99",
    "4 worker memory per open process", "4 server memory per open process",
    "4 worker+server memory per open process",
    "5 timer storm: fired", "5 timer storm: lateness p50", "5 timer storm: lateness p99",
    "6 read p99: GET /leads", "6 read p99: GET /leads/{id}", "6 read p99: GET /quotes?status=",
    "6 read p99: GET /quotes/{id}",
    "1 intake: CPU per process taken in", "1 process starts: CPU per start",
    "2 short process end to end: CPU per process", "3 approval round trip: CPU per decision",
    "5 timer storm: CPU per reminder", "6 read: CPU per read",
    "7 own workflow: enrol in one request", "7 own workflow: enrolments taken in",
    "7 own workflow: worker memory per open enrolment",
    "8 simulation: cases simulated", "8 simulation: live starts while one runs",
    "1 process starts: history events per start",
    "2 short process end to end: history events per process",
    "3 approval round trip: history events per decision",
    "5 timer storm: history events per reminder",
    "9 floor audit: findings",
    *(f"10 at 20 % of capacity: p99 {kind}" for kind in (
        "start", "decision", "console page", "read")),
    *(f"6 read: API CPU per read, {e}" for e in (
        "GET /leads", "GET /leads/{id}", "GET /quotes?status=", "GET /quotes/{id}")),
}
FLOOR_GOALS = {
    "1 process starts: CPU per start": "<= 1.3x floor",
    "2 short process end to end: CPU per process": "<= 1.3x floor",
    "3 approval round trip: CPU per decision": "<= 1.3x floor",
    "5 timer storm: CPU per reminder": "<= 1.3x floor",
    "4 worker memory per open process": "<= 1.2x floor",
    "1 process starts: history events per start": "<= floor + 2",
    "2 short process end to end: history events per process": "<= floor + 2",
    "3 approval round trip: history events per decision": "<= floor + 2",
    "5 timer storm: history events per reminder": "<= floor + 2",
}


def number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value)


def test_the_bench_reports_every_measure_beside_bare_temporal_and_the_floor(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--loads", "tiny", "--database", "sqlite",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280,
    )
    assert run.returncode == 0, run.stderr[-3000:]

    report = json.loads((tmp_path / "latest.json").read_text())
    rows = {row["measure"]: row for row in report["rows"]}
    assert set(rows) == MEASURES, set(rows) ^ MEASURES
    assert {row["database"] for row in report["rows"]} == {"sqlite"}
    audit = rows.pop("9 floor audit: findings")
    for kind in ("start", "decision", "console page", "read"):
        felt = rows.pop(f"10 at 20 % of capacity: p99 {kind}")  # absolute: no bare side
        assert number(felt["crmflow"]) and felt["goal"].startswith("< "), felt
        assert felt["failures"]["crmflow"] == 0, felt
    assert audit["floor"] == 0, audit["detail"]  # the floor lost, doubled, invented nothing
    for name, goal in FLOOR_GOALS.items():
        row = rows[name]
        assert row["floor_goal"] == goal and isinstance(row["floor_met"], bool), row
        assert number(row["floor"]) and row["floor"] > 0, row
        assert row["floor_ratio"] == pytest.approx(row["crmflow"] / row["floor"], rel=1e-2)
    for name, row in rows.items():
        assert number(row["crmflow"]) and number(row["bare"]), (name, row)
        assert number(row["ratio"]), (name, row)
        assert row["ratio"] == pytest.approx(row["crmflow"] / row["bare"], rel=1e-2, abs=1e-3)
        assert row["met"] is None if row["goal"] is None else isinstance(row["met"], bool)
    assert all(rows[m]["goal"] for m in (
        "1 intake: new processes taken in", "1 process starts: rate", "1 process starts: p99",
        "2 short process end to end: completions", "3 approval round trip: p99",
        "4 worker memory per open process", "5 timer storm: fired",
        "5 timer storm: lateness p99", "6 read p99: GET /leads"))
    assert {d["measure"] for d in report["distributions"] if d["count"]} >= {
        "1 process starts", "2 short process end to end", "3 approval round trip",
        "5 timer storm", "6 read"}
    machine = report["machine"]
    assert machine["cores"] >= 1 and machine["cpu"] and machine["temporal_cli"]

    for header in ("measure", "crmflow", "bare", "ratio", "goal", "floor", "/floor"):
        assert header in run.stdout
    assert all(name in run.stdout for name in MEASURES)
    assert (tmp_path / "latest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| measure |" in (tmp_path / "latest.md").read_text()
