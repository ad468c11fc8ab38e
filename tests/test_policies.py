"""The policy file: ISO 8601 durations, one table per process, clear refusals."""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from crm.policies import PolicyError, PolicyStore, parse_policies, policies_as_json


def test_defaults_hold_without_a_file() -> None:
    policies = PolicyStore(None).current()
    assert policies.quote_approval.approval_timeout == timedelta(days=5)
    assert policies.quote_approval.on_timeout == "validate"
    assert policies.quote_approval.discount_threshold_pct == Decimal(20)
    assert policies.lead_nurturing.max_loops == 2


def test_a_table_overrides_only_its_keys() -> None:
    policies = parse_policies(
        '[quote_approval]\napproval_timeout = "PT2S"\non_timeout = "escalate"\n'
        '[lead_nurturing]\nstep_delay = "P1DT12H"\nrep_assignment = "least_loaded"\n'
    )
    assert policies.quote_approval.approval_timeout == timedelta(seconds=2)
    assert policies.quote_approval.on_timeout == "escalate"
    assert policies.quote_approval.reminder_every == timedelta(days=1)
    assert policies.lead_nurturing.step_delay == timedelta(days=1, hours=12)
    assert policies_as_json(policies)["quote_approval"]["approval_timeout"] == "PT2S"


@pytest.mark.parametrize(("text", "message"), [
    ("[payroll]\nx = 1\n", "unknown table [payroll]"),
    ('[quote_approval]\napproval_timout = "P1D"\n', "unknown key 'approval_timout'"),
    ('[quote_approval]\napproval_timeout = "five days"\n', "[quote_approval] approval_timeout:"),
    ('[quote_approval]\non_timeout = "ignore"\n', "[quote_approval] on_timeout:"),
    ('[quote_approval]\nreminder_every = "PT0S"\n', "reminder_every must be a positive duration"),
    ("[lead_nurturing]\nmax_loops = -1\n", "max_loops must not be negative"),
    ("[quote_approval\n", "not valid TOML"),
])
def test_a_bad_file_is_refused_naming_table_and_key(text: str, message: str) -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policies(text, "policies.toml")
    assert message in str(refused.value)
    assert str(refused.value).startswith("policies.toml: ")


def test_the_store_rereads_the_file_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "policies.toml"
    path.write_text("[quote_approval]\ndiscount_threshold_pct = 15\n")
    store = PolicyStore(path)
    assert store.current().quote_approval.discount_threshold_pct == Decimal(15)
    path.write_text("[quote_approval]\ndiscount_threshold_pct = 30\n")
    os.utime(path, ns=(1, 1))  # a different mtime even within the same clock tick
    assert store.current().quote_approval.discount_threshold_pct == Decimal(30)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="does not exist"):
        PolicyStore(tmp_path / "nope.toml")
