"""Commit, then start: a process never looks for a row that is not committed, and no row is
left without its process — a retry of the request, or the repair, starts what did not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from temporalio.client import (
    Interceptor,
    OutboundInterceptor,
    StartWorkflowInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.launcher import repair
from crm.models import Lead, ProcessStart
from crmflow.mail_sink import MailSink
from tests.api.conftest import Api, running_api
from tests.faults import TcpProxy
from tests.waiting import eventually

JANE = {"name": "Jane Buyer", "email": "jane@acme.example", "company": "Acme"}


class SeesItsRow(Interceptor):
    """At each start, looks from another connection whether the process's row is there."""

    def __init__(self, database_url: str) -> None:
        self.engine = db.create_engine(database_url)
        self.readers = db.create_sessions(self.engine, read_only=True)
        self.seen: dict[str, bool] = {}

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        outer = self

        class Looking(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                object_type, _, object_id = input.id.partition("-")
                async with outer.readers() as session:
                    found = await session.scalar(
                        text(f"SELECT count(*) FROM {object_type}s WHERE id = :id"),
                        {"id": int(object_id)})
                outer.seen[input.id] = bool(found)
                return await super().start_workflow(input)

        return Looking(next)


@pytest.fixture
async def watched(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> AsyncIterator[tuple[Api, SeesItsRow]]:
    looking = SeesItsRow(database_url)
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           interceptors=[looking]) as api:
        yield api, looking
    await looking.engine.dispose()


async def test_a_process_starts_only_once_its_lead_is_committed(
    watched: tuple[Api, SeesItsRow],
) -> None:
    api, looking = watched
    lead = (await api.call("POST", "/leads", "website", json=JANE)).json()

    assert looking.seen == {f"lead-{lead['id']}": True}
    await eventually(lambda: api.mail.to("jane@acme.example"))

    async def marked() -> bool:  # a moment after the answer, with the starts of that moment
        return await pending_starts(api) == []

    await eventually(marked)
    async with db.unit_of_work(api.sessions) as session:
        start = await session.scalar(select(ProcessStart))
    assert start is not None and start.started_at is not None
    assert (start.process, start.workflow_id, start.attempts) == (
        "lead_to_sale", f"lead-{lead['id']}", 0)


async def test_starts_made_together_are_each_marked_with_their_run(api: Api) -> None:
    answers = await asyncio.gather(*(
        api.call("POST", "/leads", "website", json={**JANE, "email": f"jane{n}@acme.example"})
        for n in range(12)))
    assert [a.status_code for a in answers] == [201] * 12

    async def all_marked() -> dict[str, str | None] | None:
        async with db.unit_of_work(api.sessions) as session:
            rows = await session.execute(select(ProcessStart.workflow_id, ProcessStart.run_id)
                                         .where(ProcessStart.started_at.is_not(None)))
            marked = {workflow_id: run_id for workflow_id, run_id in rows}
        return marked if len(marked) == 12 else None

    marked = await eventually(all_marked)
    for workflow_id, run_id in marked.items():
        described = await api.temporal.get_workflow_handle(workflow_id).describe()
        assert described.run_id == run_id


async def pending_starts(api: Api) -> list[str]:
    async with db.unit_of_work(api.sessions) as session:
        rows = await session.scalars(
            select(ProcessStart.workflow_id).where(ProcessStart.started_at.is_(None)))
        return list(rows)


async def process_exists(api: Api, workflow_id: str) -> bool:
    try:
        await api.temporal.get_workflow_handle(workflow_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_a_lead_whose_process_could_not_start_is_started_by_a_retry(
    api_via_proxy: Api, temporal_proxy: TcpProxy,
) -> None:
    api = api_via_proxy
    key = {"Idempotency-Key": "signup-42"}
    temporal_proxy.pause()  # Temporal hangs: the start cannot get through

    first = await api.call("POST", "/leads", "website", json=JANE, headers=key)

    assert first.status_code == 503, first.text
    assert first.headers["Retry-After"]
    assert "lead 1 is saved" in first.json()["detail"]
    assert await pending_starts(api) == ["lead-1"]

    temporal_proxy.restore()
    again = await api.call("POST", "/leads", "website", json=JANE, headers=key)

    assert again.status_code == 201, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == 1
    assert await pending_starts(api) == []
    assert await process_exists(api, "lead-1")
    [welcome] = await eventually(lambda: api.mail.to("jane@acme.example"))
    assert welcome.purpose == "welcome"
    async with db.unit_of_work(api.sessions) as session:
        assert await session.scalar(select(func.count(Lead.id))) == 1


async def test_the_repair_starts_what_a_request_left_unstarted(
    api_via_proxy: Api, temporal_proxy: TcpProxy,
) -> None:
    api = api_via_proxy
    await temporal_proxy.cut()  # Temporal is down for the API
    refused = await api.call("POST", "/leads", "website", json=JANE)
    assert refused.status_code == 503
    assert not await process_exists(api, "lead-1")

    repaired = await repair(api.sessions, api.temporal, api.settings,
                            older_than=timedelta(0))

    assert [(r.workflow_id, r.outcome) for r in repaired] == [("lead-1", "started")]
    assert await pending_starts(api) == []
    await eventually(lambda: api.mail.to("jane@acme.example"))
    assert await repair(api.sessions, api.temporal, api.settings) == []  # nothing twice
