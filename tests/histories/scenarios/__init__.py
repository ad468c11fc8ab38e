"""Recorded scenarios, one module per process, each with its ``SCENARIOS``: add a module
for a new process and the recorder finds it."""

from __future__ import annotations

import importlib
import pkgutil

from tests.histories.world import Scenario


def all_scenarios() -> dict[str, Scenario]:
    found: dict[str, Scenario] = {}
    for module in pkgutil.iter_modules(__path__):
        scenarios = importlib.import_module(f"{__name__}.{module.name}").SCENARIOS
        clash = set(found) & set(scenarios)
        assert not clash, f"scenario names used twice: {clash}"
        found.update(scenarios)
    return found
