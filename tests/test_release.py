"""The release: its version, and a dev data folder from before 1.0 refused up front."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from crmflow.dev_stack import GENERATION, StackError, claim_data_folder

ROOT = Path(__file__).resolve().parent.parent


def crmflow(*args: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CRMFLOW_DATA_DIR": str(data)}
    return subprocess.run([sys.executable, "-m", "crmflow.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_the_command_says_the_release_of_pyproject(tmp_path: Path) -> None:
    release = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert release == "1.0.0"
    assert crmflow("--version", data=tmp_path).stdout.strip() == f"crmflow {release}"


def test_the_changelog_starts_at_the_release() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [1.0.0] - " in changelog


def test_a_data_folder_from_before_1_0_is_refused_in_one_line(tmp_path: Path) -> None:
    old = tmp_path / ".crmflow"
    old.mkdir()
    (old / "temporal.db").write_bytes(b"runs of another generation")
    refused = crmflow("dev", data=old)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert line == (f"crmflow: {old} holds processes from crmflow before 1.0, which crmflow "
                    f"1.0.0 cannot run: move it away or delete it (rm -rf {old}) and start "
                    f"again")
    assert sorted(p.name for p in old.iterdir()) == ["temporal.db"]  # nothing changed


def test_a_new_or_current_data_folder_is_claimed(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh"
    claim_data_folder(fresh)
    assert (fresh / "generation").read_text() == f"{GENERATION}\n"
    (fresh / "temporal.db").write_bytes(b"")
    claim_data_folder(fresh)  # the same generation, again
    (fresh / "generation").write_text("0.9\n")
    with pytest.raises(StackError, match=r"holds processes from crmflow 0\.9"):
        claim_data_folder(fresh)
