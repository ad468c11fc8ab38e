"""One registry line per process: the worker, the policies, the process views and the
process ids all follow it, so adding a process cannot forget one of them."""

from __future__ import annotations

import dataclasses

from api.routers.processes import PROCESS_NAMES
from crm.policies import Policies, parse_policies, policies_as_json
from workflows import messages
from workflows.registry import LEAD_TO_SALE, PROCESSES, QUOTE_APPROVAL, WORKFLOWS


def test_every_process_is_run_by_the_worker_and_listed_by_the_api() -> None:
    import worker.main

    assert worker.main.WORKFLOWS is WORKFLOWS
    assert {"LeadToSale", "QuoteApproval"} <= {w.__name__ for w in WORKFLOWS}
    assert [spec.name for spec in PROCESSES] == PROCESS_NAMES
    assert len(set(WORKFLOWS)) == len(PROCESSES)


def test_every_process_has_its_policy_table_with_defaults() -> None:
    tables = policies_as_json(Policies())
    assert list(tables) == [spec.policy_table for spec in PROCESSES]
    for spec in PROCESSES:
        defaults = spec.policy_type()
        assert getattr(Policies(), spec.policy_table) == defaults
        assert set(tables[spec.policy_table]) == {f.name for f in dataclasses.fields(defaults)}
    changed = parse_policies('[quote_approval]\napproval_timeout = "P2D"\n')
    assert changed.quote_approval.approval_timeout.days == 2
    assert changed.lead_nurturing == LEAD_TO_SALE.policy_type()


def test_process_ids_are_the_ones_other_processes_signal() -> None:
    assert LEAD_TO_SALE.workflow_id(7) == messages.lead_process_id(7) == "lead-7"
    assert QUOTE_APPROVAL.workflow_id(9) == "quote-9"
    assert len({spec.name for spec in PROCESSES}) == len(PROCESSES)
    assert len({spec.object_type for spec in PROCESSES}) == len(PROCESSES)
