"""What a simulation found: per case, the two timelines and their differences; over all
cases, the outcomes that change, the earlier and later outcomes, the emails added or
removed, the time to outcome (p50, p90) and the work asked of people — each number with the
cases behind it. Pure: from the engine's results to JSON-ready data."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict
from typing import Any

from simulation.engine import CaseResult, Run

SAME_MOMENT = 60.0
"""Seconds within which two runs did a thing at the same moment: a run's own steps take a
moment of the simulation's clock (as they do in the live process), never whole minutes."""
WORK = ("approval_request", "approval_reminder")
"""The emails that ask a person for work (a decision), besides tasks."""


def summary(results: list[CaseResult]) -> dict[str, Any]:
    changed: dict[str, list[str]] = {}
    sooner: list[str] = []
    later: list[str] = []
    emails_added: dict[str, list[str]] = {}
    emails_removed: dict[str, list[str]] = {}
    for case in results:
        before, after = case.current, case.proposed
        if before.outcome != after.outcome:
            changed.setdefault(f"{before.outcome or 'none'} → {after.outcome or 'none'}",
                               []).append(case.name)
        elif before.decided_after is not None and after.decided_after is not None:
            if after.decided_after < before.decided_after - SAME_MOMENT:
                sooner.append(case.name)
            elif after.decided_after > before.decided_after + SAME_MOMENT:
                later.append(case.name)
        difference = _emails(after) - _emails(before)
        for template, n in difference.items():
            emails_added.setdefault(template, []).extend([case.name] * n)
        for template, n in (_emails(before) - _emails(after)).items():
            emails_removed.setdefault(template, []).extend([case.name] * n)
    return {
        "cases": len(results),
        "outcomes": {"current": _tally(r.current for r in results),
                     "proposed": _tally(r.proposed for r in results)},
        "changed": changed,
        "sooner": sooner,
        "later": later,
        "time_to_outcome_hours": {"current": _percentiles([r.current for r in results]),
                                  "proposed": _percentiles([r.proposed for r in results])},
        "emails": {"current": sum(r.current.count("email") for r in results),
                   "proposed": sum(r.proposed.count("email") for r in results),
                   "added": emails_added, "removed": emails_removed},
        "work": {"current": _work([r.current for r in results]),
                 "proposed": _work([r.proposed for r in results])},
        "unanswered": [r.name for r in results if r.proposed.unanswered],
        "not_taken": [r.name for r in results if r.proposed.not_taken],
    }


def cases(results: list[CaseResult]) -> list[dict[str, Any]]:
    """Each case's two runs, with what differs between their timelines marked."""
    shown = []
    for case in results:
        before, after = (_moments(case.current), _moments(case.proposed))
        shown.append({
            "case": case.name, "object_id": case.object_id,
            "current": {**_run(case.current), "timeline": [
                {**m, "differs": _key(m) not in {_key(o) for o in after}} for m in before]},
            "proposed": {**_run(case.proposed), "timeline": [
                {**m, "differs": _key(m) not in {_key(o) for o in before}} for m in after]},
        })
    return shown


def _run(run: Run) -> dict[str, Any]:
    return {"outcome": run.outcome, "ended": run.ended,
            "decided_after_hours": _hours(run.decided_after),
            "not_taken": run.not_taken, "unanswered": run.unanswered}


def _moments(run: Run) -> list[dict[str, Any]]:
    return [asdict(m) for m in run.timeline]


def _key(moment: dict[str, Any]) -> tuple[Any, ...]:
    return round(moment["after"] / SAME_MOMENT), moment["kind"], moment["what"]


def _emails(run: Run) -> Counter[str]:
    return Counter(m.what for m in run.timeline if m.kind == "email")


def _tally(runs: Any) -> dict[str, int]:
    return dict(Counter(run.outcome or "none" for run in runs))


def _work(runs: list[Run]) -> dict[str, int]:
    return {"decisions_asked": sum(r.count("email", w) for r in runs for w in WORK[:1]),
            "reminders": sum(r.count("email", WORK[1]) for r in runs),
            "tasks": sum(r.count("task") for r in runs)}


def _percentiles(runs: list[Run]) -> dict[str, float | None]:
    times = sorted(r.decided_after for r in runs if r.decided_after is not None)
    if not times:
        return {"p50": None, "p90": None}
    return {"p50": _hours(_nearest_rank(times, 50)), "p90": _hours(_nearest_rank(times, 90))}


def _nearest_rank(ordered: list[float], percent: int) -> float:
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil(p/100 · n), at least 1
    return ordered[rank - 1]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)
