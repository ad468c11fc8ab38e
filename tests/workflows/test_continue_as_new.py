"""A lead followed for months continues as new when the server suggests it, carrying its
state: no email is skipped or sent twice, and task purposes stay unique across runs.

The dev server here suggests continuing as new after 40 history events (4096 by default),
so a few minutes of a real lead's life span several runs.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from crm import db
from crm.models import StatusChange, Task
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.waiting import eventually
from tests.workflows.conftest import runs_of
from tests.workflows.starts import start_lead
from worker.main import build_worker
from workflows.lead_to_sale import (
    ContentDownload,
    LeadNurturingPolicy,
    LeadToSale,
    MarketingResponse,
    Qualification,
)
from workflows.messages import QuoteProgress

SECOND = timedelta(seconds=1)


async def test_a_long_lead_continues_as_new_without_repeating_or_skipping(
    short_histories: WorkflowEnvironment, sqlite_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> None:
    env = short_histories
    sink, port = mail_sink
    settings = Settings(database_url=sqlite_url, smtp_port=port, data_dir=tmp_path)
    engine = db.create_engine(sqlite_url)
    sessions = db.create_sessions(engine)
    queue = f"test-{uuid.uuid4()}"
    team = await factories.sales_team(sessions)
    lead = await factories.lead(sessions, team_id=team.rep.team_id)
    policy = LeadNurturingPolicy(step_delay=SECOND, content_wait=SECOND, max_loops=1,
                                 lead_ttl=timedelta(minutes=10))
    async with build_worker(env.client, settings, sessions, task_queue=queue):
        handle = await start_lead(env.client, queue, lead, policy)
        await eventually(lambda: [m.purpose for m in sink.to(lead.email)][-1:] == [
            "promotional_offer"], timeout=60)
        # Nurturing alone passes 40 events: the process continued as new.
        first_runs = await eventually(lambda: _at_least(2, runs_of(env, handle.id)), timeout=30)

        await handle.signal(LeadToSale.content_downloaded, ContentDownload("white_paper"))
        await eventually(lambda: sink.to(team.rep.email), timeout=30)
        await handle.execute_update(LeadToSale.qualify, Qualification(
            True, team.rep.id, team.rep.role, "budget confirmed", "a CRM", Decimal(9000)))
        for campaign in ("webinar", "newsletter", "fair", "podcast"):
            await handle.signal(LeadToSale.marketing_response, MarketingResponse(campaign))

        async def follow_ups() -> list[str]:
            async with db.unit_of_work(sessions) as session:
                return list(await session.scalars(select(Task.title).where(
                    Task.kind == "sales_follow_up").order_by(Task.id)))

        await eventually(lambda: _all_four(follow_ups), timeout=30)
        await handle.signal("quote_progress", QuoteProgress(3, "won"))
        result = await handle.result()

    assert result.status == "won"
    assert await runs_of(env, handle.id) > first_runs, "it went on continuing as new"
    lead_mail = Counter(m.purpose for m in sink.to(lead.email))
    assert lead_mail == {"welcome": 1, "case_study": 1, "white_paper": 1, "case_study_2": 1,
                         "promotional_offer": 1}
    assert Counter(m.purpose for m in sink.to(team.rep.email)) == {"rep_notified": 1}
    async with db.unit_of_work(sessions) as session:
        tasks = list(await session.scalars(select(Task).order_by(Task.id)))
        changes = list(await session.scalars(
            select(StatusChange.to_status).where(StatusChange.object_type == "lead")))
    assert [t.kind for t in tasks] == ["call_lead"] + ["sales_follow_up"] * 4
    assert sorted(str(t.idempotency_key) for t in tasks[1:]) == [
        f"{handle.id}:follow_up_{n}" for n in (1, 2, 3, 4)]
    assert changes == ["nurturing", "engaged", "qualified", "won"]
    await engine.dispose()


async def _at_least(n: int, count: Any) -> int:
    found = int(await count)
    return found if found >= n else 0


async def _all_four(titles: object) -> bool:
    return len(await titles()) == 4  # type: ignore[operator]
