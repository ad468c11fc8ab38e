"""The sizing page's figures are the counts of the recorded histories (``bench/actions.py``),
and the counter counts by Temporal Cloud's rules: a hand-built history shows each rule."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from bench import actions

PAGE = actions.PAGE


def test_the_page_is_up_to_date() -> None:
    assert actions.stale(PAGE) == [], (
        "docs/explanation/sizing.md is stale: python -m bench.actions --write "
        "docs/explanation/sizing.md")


def test_the_page_keeps_the_scaling_placeholder() -> None:
    text = PAGE.read_text(encoding="utf-8")
    assert "## Measured scaling on this machine" in text
    assert "<!-- scaling:begin -->" in text and "<!-- scaling:end -->" in text


def _json_payload(value: Any) -> dict[str, Any]:
    encode = base64.b64encode
    return {"payloads": [{"metadata": {"encoding": encode(b"json/plain").decode()},
                          "data": encode(json.dumps(value).encode()).decode()}]}


class History:
    """A history built by hand, event by event, in the JSON form recordings have."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, kind: str, attributes: dict[str, Any] | None = None) -> str:
        event_id = str(len(self.events) + 1)
        name = "".join(part.capitalize() for part in kind.lower().split("_"))
        name = name[0].lower() + name[1:] + "EventAttributes"
        self.events.append({"eventId": event_id, "eventType": f"EVENT_TYPE_{kind}",
                            name: attributes or {}})
        return event_id

    def task(self) -> str:
        """A workflow task, scheduled, started and completed: its completed event's id."""
        self.add("WORKFLOW_TASK_SCHEDULED")
        self.add("WORKFLOW_TASK_STARTED")
        return self.add("WORKFLOW_TASK_COMPLETED")

    def activity(self, name: str = "record_status", attempt: int = 1,
                 result: Any = None) -> None:
        scheduled = self.add("ACTIVITY_TASK_SCHEDULED", {"activityType": {"name": name}})
        self.add("ACTIVITY_TASK_STARTED", {"scheduledEventId": scheduled, "attempt": attempt})
        self.add("ACTIVITY_TASK_COMPLETED", {
            "scheduledEventId": scheduled,
            **({"result": _json_payload(result)} if result is not None else {})})

    def as_json(self) -> dict[str, Any]:
        return {"events": self.events}


def test_a_start_a_timer_and_two_activities_are_four_actions() -> None:
    history = History()
    history.add("WORKFLOW_EXECUTION_STARTED", {"workflowType": {"name": "LeadToSale"}})
    history.task()
    history.activity()
    history.activity()
    history.task()
    history.add("TIMER_STARTED", {"timerId": "1"})
    history.add("TIMER_FIRED", {"timerId": "1"})
    history.task()
    history.add("WORKFLOW_EXECUTION_COMPLETED")

    count = actions.count(history.as_json())

    assert count.actions == 4
    assert dict(count.by_kind) == {"start": 1, "activities": 2, "timers": 1}
    assert count.workflow_tasks == 3
    assert count.events == len(history.events) == 19


def test_markers_count_once_per_workflow_task_and_retries_each() -> None:
    history = History()
    history.add("WORKFLOW_EXECUTION_STARTED")
    first = history.task()
    for name in ("core_patch", "core_local_activity", "core_local_activity"):
        history.add("MARKER_RECORDED", {"markerName": name,
                                        "workflowTaskCompletedEventId": first})
    second = history.task()
    history.events[-1]["workflowTaskCompletedEventAttributes"]["meteringMetadata"] = {
        "nonfirstLocalActivityExecutionAttempts": 2}
    history.add("MARKER_RECORDED", {"markerName": "core_local_activity",
                                    "workflowTaskCompletedEventId": second})
    history.activity(attempt=3)  # the first attempt and two retries

    kinds = actions.count(history.as_json()).by_kind

    assert kinds["local activities"] == 2 + 2  # two tasks with markers, two retries
    assert kinds["activities"] == 3


def test_signals_updates_search_attributes_and_email_heartbeats() -> None:
    history = History()
    history.add("WORKFLOW_EXECUTION_STARTED")
    history.task()
    history.add("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", {"searchAttributes": {"indexedFields": {
        "CrmStatus": {}, "CrmOwner": {}}}})  # two attributes, one upsert: one action
    history.add("UPSERT_WORKFLOW_SEARCH_ATTRIBUTES", {"searchAttributes": {"indexedFields": {
        "TemporalChangeVersion": {}}}})  # a patch's: free
    history.add("SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED")  # billed where received
    history.add("WORKFLOW_EXECUTION_SIGNALED", {"signalName": "quote_progress"})
    history.add("WORKFLOW_EXECUTION_UPDATE_ACCEPTED")
    history.activity("send_email", result={"status": "sent", "message_id": "<m@x>"})
    history.activity("send_email", result={"status": "already_sent", "message_id": "<m@x>"})

    kinds = actions.count(history.as_json()).by_kind

    assert dict(kinds) == {"start": 1, "search attributes": 1, "signals": 1, "updates": 1,
                           "activities": 2, "heartbeats": 1}


def test_a_scheduled_run_and_a_child_workflow() -> None:
    history = History()
    history.add("WORKFLOW_EXECUTION_STARTED", {"searchAttributes": {"indexedFields": {
        "TemporalScheduledById": {}}}})
    history.task()
    history.add("START_CHILD_WORKFLOW_EXECUTION_INITIATED")

    count = actions.count(history.as_json())

    assert count.actions == 1 + 2 + 2


def test_every_recording_is_counted_and_each_has_its_start() -> None:
    rows = actions.rows()
    assert len(rows) == len(list(actions.HISTORIES.glob("*/*.json"))) > 20
    assert all(row.count.by_kind["start"] == 1 for row in rows)
    typical = actions.typical_rows(rows)
    assert set(typical) == set(actions.TYPICAL)
    for usual, costly in typical.values():
        assert usual.count.actions <= costly.count.actions


def test_check_fails_on_a_stale_page_and_write_mends_it(tmp_path: Path) -> None:
    page = tmp_path / "sizing.md"
    page.write_text(PAGE.read_text(encoding="utf-8").replace("| **", "| **1", 1),
                    encoding="utf-8")
    assert actions.main(["--check", str(page)]) == 1
    assert actions.main(["--write", str(page)]) == 0
    assert actions.main(["--check", str(page)]) == 0
    assert page.read_text(encoding="utf-8") == PAGE.read_text(encoding="utf-8")
