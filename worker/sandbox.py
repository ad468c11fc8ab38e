"""The workflow sandbox as crmflow's worker runs it: lean, and the same for replays.

Temporal's sandbox imports a workflow's module afresh for every workflow it runs (every new
process, and every one it wakes up that is no longer in the worker's cache), so that no run
can see another's module state. Everything that module imports is imported afresh with it,
except the modules passed through from outside the sandbox. Measured on the lead process
(``bench``, README "Performance"), that re-import was most of what a worker did to take a new
process in: creating some thirty dataclasses per run and, where no bytecode could be cached
(``PYTHONDONTWRITEBYTECODE``, a read-only install), compiling the sources again.

So:

* **The modules without state pass through** (``PASSED_THROUGH``): the data types of every
  process (inputs, states, policies, messages, activity contracts), the pure rules beside
  them, and the small helpers every process is made of. They hold no mutable module state
  and do no I/O at import or call time; their classes are then created once per worker, and
  payloads are converted with type adapters built once (``crm.temporal``). The workflow
  modules themselves (``workflows.lead_to_sale``…) stay sandboxed:
  the sandbox's restrictions keep checking the code that makes the decisions.
* **Sources are compiled once per worker** (``compile_once``): whatever the environment
  says about bytecode files, the sandbox re-executes compiled code for every run, never the
  compiler.

Third-party packages need nothing here: no workflow module imports one but ``temporalio``
and ``pydantic``, which the SDK passes through by default. A module added to
``PASSED_THROUGH`` must be pure in the same sense; ``tests/workflows/test_sandbox.py`` checks
that every module listed exists and that the workflow modules themselves are not listed.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

PASSED_THROUGH: tuple[str, ...] = (
    # Data: what the processes take, keep, say and ask for.
    "workflows.contracts",
    "workflows.messages",
    "workflows.roles",
    "workflows.search_attributes",
    "workflows.lead_types",
    "workflows.quote_types",
    "workflows.dunning_contracts",
    "workflows.dunning_types",
    "workflows.project_types",
    "workflows.support_types",
    "workflows.own.objects",
    "workflows.own.definition",
    "workflows.own.contracts",
    "workflows.own.policy",
    # Pure rules: functions of their arguments (the time is passed in).
    "workflows.refusals",
    "workflows.business_time",
    "workflows.sla",
    "workflows.dunning_ladder",
    "workflows.project_plan",
    "workflows.ticket_agenda",
    "workflows.own.expressions",
    # The steps every process is made of: they act through ``temporalio.workflow`` alone,
    # on the workflow that calls them, and keep nothing between calls.
    "workflows.steps",
    "workflows.lifecycle",
    "workflows.planned_change",
    "workflows.ticket_mail",
    "workflows.patches",
)
"""Modules shared by every workflow run instead of re-imported for each."""

SANDBOXED_PACKAGES = ("workflows",)
"""Packages whose modules the sandbox executes per run: compiled once (``compile_once``)."""


def restrictions() -> SandboxRestrictions:
    """The SDK's default restrictions, with crmflow's pure modules passed through."""
    return SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The runner for the worker and for replays (``tests/workflows/test_replay.py``)."""
    compile_once(SANDBOXED_PACKAGES)
    return SandboxedWorkflowRunner(restrictions=restrictions())


# Compiled once ------------------------------------------------------------------------


class _CompiledOnceFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of some packages as Python would, once each, with a loader that
    keeps each module's compiled code for the life of the process."""

    def __init__(self, packages: Sequence[str]) -> None:
        self.packages = frozenset(packages)
        self.found: dict[str, tuple[str, list[str] | None]] = {}
        """Module name -> its source file and, for a package, where its modules are."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        if fullname not in self.found:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
            if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
                return spec
            assert spec.origin is not None
            self.found[fullname] = (spec.origin, spec.submodule_search_locations)
        origin, locations = self.found[fullname]
        return importlib.util.spec_from_file_location(
            fullname, origin, loader=_CompiledOnceLoader(fullname, origin),
            submodule_search_locations=None if locations is None else list(locations))


class _CompiledOnceLoader(importlib.machinery.SourceFileLoader):
    codes: dict[str, CodeType] = {}
    """By source path. A running worker never changes its code: a source edited meanwhile is
    picked up by the next worker, not half-way through this one's runs."""

    def get_code(self, fullname: str) -> CodeType | None:
        code = self.codes.get(self.path)
        if code is None:
            code = super().get_code(fullname)
            if code is not None:
                self.codes[self.path] = code
        return code


def compile_once(packages: Sequence[str]) -> None:
    """From now on, modules of these packages are compiled (or read from bytecode files) at
    most once in this process, however often the sandbox executes them. Idempotent."""
    if not any(isinstance(f, _CompiledOnceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _CompiledOnceFinder(packages))
