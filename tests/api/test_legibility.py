"""Each process reads like the business story in the Temporal UI: a summary on the start,
on every activity and timer, and current details saying what it waits for."""

from __future__ import annotations

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter

from tests import factories
from tests.api.conftest import Api
from tests.waiting import eventually

NEEDS_SUMMARY = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_MARKER_RECORDED,  # local activities (reads)
    EventType.EVENT_TYPE_TIMER_STARTED,
}


async def timeline(handle: WorkflowHandle) -> list[tuple[str, str | None]]:
    """(event type, summary) for the events the UI draws on the timeline."""
    events = []
    async for event in handle.fetch_history_events():
        attributes = event.marker_recorded_event_attributes
        if event.event_type in NEEDS_SUMMARY and attributes.marker_name != "core_patch":
            summary = None
            if event.user_metadata.HasField("summary"):
                summary = pydantic_data_converter.payload_converter.from_payload(
                    event.user_metadata.summary, str)
            events.append((EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"), summary))
    return events


async def current_details(handle: WorkflowHandle) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return metadata.current_details


async def test_a_lead_reads_like_its_story(api: Api) -> None:
    lead = (await api.call("POST", "/leads", "website", json={
        "name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme"})).json()
    handle = api.temporal.get_workflow_handle(f"lead-{lead['id']}")
    assert await (await handle.describe()).static_summary() == (
        "Lead Jane Buyer (Acme) — newsletter sign-up"
    )
    details = await eventually(lambda: current_details(handle))
    assert details == "Lead Jane Buyer (nurturing): waiting for the next nurturing step"
    events = await timeline(handle)
    assert ("ACTIVITY_TASK_SCHEDULED", "lead 1 → nurturing: lead signed up") in events
    assert ("ACTIVITY_TASK_SCHEDULED", "Send welcome newsletter to jane@acme.example") in events
    assert ("TIMER_STARTED", "Pause before the next email (3 days)") in events
    assert all(summary for _, summary in events), events


async def test_a_quote_waiting_for_approval_says_so(api: Api) -> None:
    lead = await factories.qualified_lead(api.sessions, api.team.rep)
    quote = await factories.quote(api.sessions, lead, api.team.rep, discount_pct="30")
    await api.call("POST", f"/quotes/{quote.id}/submit", "rep")
    handle = api.temporal.get_workflow_handle(f"quote-{quote.id}")

    assert await current_details(handle) == (
        f"Quote {quote.id} for Acme (pending_approval): waiting for a manager's decision"
    )
    events = await eventually(lambda: _with_timer(handle))
    assert events[:2] == [
        ("ACTIVITY_TASK_SCHEDULED",
         f"quote {quote.id} → pending_approval: discount 30 % above the 20 % threshold"),
        ("MARKER_RECORDED", "Find the sales managers who may approve"),
    ]
    assert ("ACTIVITY_TASK_SCHEDULED", "Ask Maria to approve the 30 % discount") in events
    assert events[-1] == ("TIMER_STARTED", "Wait for approval (5 days): reminder 1 in 1 day")
    assert all(summary for _, summary in events), events


async def _with_timer(handle: WorkflowHandle) -> list[tuple[str, str | None]] | None:
    events = await timeline(handle)
    return events if events and events[-1][0] == "TIMER_STARTED" else None
