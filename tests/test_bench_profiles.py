"""The bench's profile summary names where the samples went (areas, crmflow functions)."""

from __future__ import annotations

import json
from pathlib import Path

from bench.profiles import write_summary

VENV = "/srv/.venv/lib/python3.11/site-packages"


def test_samples_are_told_by_area_and_by_crmflow_function(tmp_path: Path) -> None:
    thread = tmp_path / "aiosqlite_core.py"  # a driver thread waiting for its next statement
    thread.write_text("def _connection_worker_thread(tx):\n    future, function = tx.get()\n")
    frames = [
        {"name": "create_lead", "file": "/srv/crmflow/api/routers/leads.py", "line": 120},
        {"name": "execute", "file": f"{VENV}/sqlalchemy/orm/session.py", "line": 1},
        {"name": "validate", "file": f"{VENV}/pydantic/main.py", "line": 1},
        {"name": "_run_once", "file": "/usr/lib/python3.11/asyncio/base_events.py", "line": 1},
        {"name": "_connection_worker_thread", "file": str(thread), "line": 2},
    ]
    recording = {"shared": {"frames": frames}, "profiles": [{
        "type": "sampled", "samples": [[0, 1], [0, 1], [0, 2], [3], [4]],
        "weights": [1, 1, 1, 1, 2]}]}
    (tmp_path / "sqlite-starts-api.speedscope.json").write_text(json.dumps(recording))

    summary = write_summary(tmp_path)

    assert summary is not None
    text = summary.read_text()
    assert "### sqlite-starts-api" in text
    assert "4.0 s busy (2.0 s more waiting, not counted)" in text
    assert "SQLAlchemy 50%, pydantic 25%, event loop 25%" in text
    assert "- `api/routers/leads.py:create_lead` 75%" in text


def test_no_recordings_no_summary(tmp_path: Path) -> None:
    assert write_summary(tmp_path) is None
