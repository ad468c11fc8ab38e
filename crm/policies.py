"""The policies in force: built-in defaults, overridden by the TOML file CRMFLOW_POLICY_FILE.

One table per process; durations are ISO 8601 strings ("P5D", "PT2S")::

    [quote_approval]
    approval_timeout = "P5D"
    on_timeout = "escalate"

A process takes the policy in force when it starts, in its input, and keeps it: editing the
file changes the processes started afterwards, never the running ones. The file is read
again whenever it changes, so no restart is needed.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from crm.insights.objectives import ObjectivesPolicy
from workflows.registry import OWN_WORKFLOW, PROCESSES


@dataclass
class SimulationPolicy:
    """How much a simulation may take (``[simulation]``): it replays past cases on a server
    of its own, beside the live processes."""

    max_cases: int = 500
    """The most cases one simulation replays (each twice)."""
    time_limit: timedelta = timedelta(minutes=10)
    """A simulation still running after this is stopped, and says so."""
    at_once: int = 1
    """How many simulations a worker runs at the same time; the others wait their turn."""

    def __post_init__(self) -> None:
        if not 1 <= self.max_cases <= 100_000:
            raise ValueError("max_cases is between 1 and 100000")
        if not 1 <= self.at_once <= 16:
            raise ValueError("at_once is between 1 and 16")
        if self.time_limit > timedelta(hours=1):
            raise ValueError("time_limit is at most an hour")


POLICY_TYPES: dict[str, type] = {**{spec.policy_table: spec.policy_type
                                    for spec in (*PROCESSES, OWN_WORKFLOW)},
                                 "simulation": SimulationPolicy,
                                 "objectives": ObjectivesPolicy}
"""Each process's table in the policy file (and the simulations' and the objectives'), and
the policy dataclass it fills."""


class Policies:
    """The policy of every process, by its table: ``policies.quote_approval``."""

    def __init__(self, **tables: Any) -> None:
        unknown = set(tables) - set(POLICY_TYPES)
        if unknown:
            raise TypeError(f"unknown policy tables: {', '.join(sorted(unknown))}")
        self._tables = {name: tables.get(name) or policy_type()
                        for name, policy_type in POLICY_TYPES.items()}

    def __getattr__(self, table: str) -> Any:
        try:
            return self.__dict__["_tables"][table]
        except KeyError:
            raise AttributeError(table) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Policies) and self._tables == other._tables

    def __repr__(self) -> str:
        return f"Policies({self._tables!r})"


class PolicyError(ValueError):
    """The policy file cannot be used; the message names the table and key."""


def parse_policies(text: str, source: str = "policy file") -> Policies:
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(f"{source}: not valid TOML: {error}") from error
    sections = list(POLICY_TYPES)
    chosen: dict[str, Any] = {}
    for name, values in tables.items():
        if name not in sections:
            raise PolicyError(f"{source}: unknown table [{name}]; known: {', '.join(sections)}")
        if not isinstance(values, dict):
            raise PolicyError(f"{source}: [{name}] must be a table")
        chosen[name] = table(name, values, source)
    return Policies(**chosen)


def table(name: str, values: dict[str, Any], source: str = "policy file") -> Any:
    """One table's policy from its values (the others keep their defaults), checked as the
    policy file is: an unknown key, a value of the wrong type or out of bounds is a
    PolicyError naming it."""
    policy_type = POLICY_TYPES[name]
    known = {f.name for f in dataclasses.fields(policy_type)}
    for key in values:
        if key not in known:
            raise PolicyError(
                f"{source}: [{name}] has unknown key {key!r}; known: {', '.join(sorted(known))}"
            )
    try:
        policy: Any = TypeAdapter(policy_type).validate_python(values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise PolicyError(f"{source}: [{name}] {problems}") from error
    _check_bounds(source, name, policy)
    return policy


def changed(name: str, policy: Any, changes: dict[str, Any], source: str) -> Any:
    """``policy`` (of table ``name``) with some of its values changed, checked as a table."""
    current = TypeAdapter(POLICY_TYPES[name]).dump_python(policy, mode="json")
    unknown = sorted(set(changes) - set(current))
    if unknown:
        raise PolicyError(f"{source}: [{name}] has unknown key {unknown[0]!r}; known: "
                          f"{', '.join(sorted(current))}")
    return table(name, {**current, **changes}, source)


def _check_bounds(source: str, table: str, policy: object) -> None:
    for f in dataclasses.fields(policy):  # type: ignore[arg-type]
        value = getattr(policy, f.name)
        if hasattr(value, "total_seconds") and value.total_seconds() <= 0:
            raise PolicyError(f"{source}: [{table}] {f.name} must be a positive duration")
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise PolicyError(f"{source}: [{table}] {f.name} must not be negative")


def policies_as_json(policies: Policies) -> dict[str, Any]:
    """The policies as shown by ``GET /policies``: durations as ISO 8601 strings."""
    return {name: TypeAdapter(policy_type).dump_python(getattr(policies, name), mode="json")
            for name, policy_type in POLICY_TYPES.items()}


class PolicyStore:
    """The policies in force, re-read when the policy file changes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._policies = Policies()
        self.current()

    def current(self) -> Policies:
        if self.path is None:
            return self._policies
        try:
            stat = self.path.stat()
        except FileNotFoundError as error:
            raise PolicyError(f"policy file {self.path} does not exist") from error
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._policies = parse_policies(self.path.read_text(), str(self.path))
            self._stamp = stamp
        return self._policies
