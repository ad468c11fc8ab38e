"""Activity log lines carry the process they work for: workflow id, run id, activity."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import Harness
from tests.workflows.starts import submit_quote
from workflows.quote_approval import QuoteApproval, QuoteApprovalPolicy, QuoteSending


async def test_an_email_sent_by_a_process_is_logged_with_its_process(
    harness: Harness, json_logs: Any
) -> None:
    team = await factories.sales_team(harness.sessions)
    quote_id, handle = await submit_quote(harness.env.client, harness.task_queue,
                                          harness.sessions, team.rep, "5", QuoteApprovalPolicy())
    await handle.execute_update(QuoteApproval.submission_outcome)
    await handle.execute_update(QuoteApproval.send_to_customer,
                                QuoteSending(team.rep.id, team.rep.role))

    lines: list[dict[str, Any]] = []

    def email_sent() -> list[dict[str, Any]]:  # the email follows the answer
        lines.extend(e for e in json_logs() if e["event"] == "email sent")
        return lines

    [line] = await eventually(email_sent)
    assert line["workflow_id"] == f"quote-{quote_id}"
    assert line["run_id"] == handle.result_run_id
    assert (line["activity"], line["attempt"], line["to"]) == (
        "send_email", 1, "jane@acme.example"
    )
    assert line["logger"] == "activities.email"
    await handle.terminate("test over")
