"""The workflow sandbox as ``worker/sandbox.py`` sets it up: what passes through is pure,
and the processes themselves stay sandboxed. (That workflows import nothing of the API, the
CRM database or the activities is an import contract: ``lint-imports``, pyproject.toml.)"""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

from worker.sandbox import PASSED_THROUGH
from workflows.registry import OWN_WORKFLOW, PROCESSES

ALLOWED = {"temporalio", "pydantic", "workflows", "holidays", "pycountry"}
"""What a passed-through module may import besides the standard library: no I/O."""


def test_every_module_passed_through_exists() -> None:
    assert [name for name in PASSED_THROUGH if importlib.util.find_spec(name) is None] == []


def test_the_processes_stay_sandboxed() -> None:
    processes = {spec.workflow.__module__ for spec in (*PROCESSES, OWN_WORKFLOW)}
    assert processes == {"workflows.lead_to_sale", "workflows.quote_approval",
                         "workflows.invoice_dunning", "workflows.support_ticket",
                         "workflows.sale_to_project", "workflows.own.interpreter"}
    assert processes.isdisjoint(PASSED_THROUGH)


def test_what_passes_through_imports_no_io() -> None:
    for name in PASSED_THROUGH:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {node.module for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom) and node.module and not node.level}
        outside = {top for top in (m.partition(".")[0] for m in imported)
                   if top not in ALLOWED and top not in sys.stdlib_module_names
                   and top != "__future__"}
        assert outside == set(), f"{name} imports {sorted(outside)}"
