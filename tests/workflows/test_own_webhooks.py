"""A webhook step in a workflow of your own, on the time-skipping server: the answer
decides a branch; a receiver that never answers well is retried, then reads as status 0 —
the loopback receiver is the test's own, the only host the policy allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from crm.policies import parse_policies
from crm.settings import Settings
from crmflow.mail_sink import MailSink
from tests import factories
from tests.waiting import eventually
from tests.webhook_receiver import Receiver, receiving
from tests.workflows.conftest import Harness
from tests.workflows.own import enrolled, published
from worker.main import build_worker

SCORING = """
name: Score the lead
object: lead
templates:
  hot: {subject: "A hot lead: {lead.name}", body: "Call today."}
  cold: {subject: "Nurture {lead.name}", body: "Not yet."}
steps:
  - id: score
    webhook: {url: "URL", answer: {score: number, tier: text}}
  - {id: is_hot, branch: {if: 'score.status == 200 and score.score > 50', then: hot}}
  - {id: cold, notify: {to: owner, template: cold}}
  - {id: cold_done, end: {outcome: nurtured}}
  - {id: hot, notify: {to: owner, template: hot}}
"""


@pytest.fixture
async def hook() -> AsyncIterator[Receiver]:
    async with receiving() as receiver:
        yield receiver


@pytest.fixture
async def scoring(harness: Harness, hook: Receiver, tmp_path: Path, sqlite_url: str,
                  mail_sink: tuple[MailSink, int]) -> AsyncIterator[Harness]:
    """A worker whose policy allows the receiver and which signs, on a queue of its own."""
    policy = tmp_path / "webhooks.toml"
    policy.write_text(f'[own_workflows]\nwebhook_hosts = ["127.0.0.1:{hook.port}"]\n')
    queue = f"{harness.task_queue}-webhooks"
    settings = Settings(database_url=sqlite_url, smtp_port=mail_sink[1], policy_file=policy,
                        webhook_secret=SecretStr("s3cret"), temporal_task_queue=queue,
                        data_dir=tmp_path)
    async with build_worker(harness.env.client, settings, harness.sessions):
        yield Harness(harness.env, harness.sessions, harness.mail, queue)


async def scored(h: Harness, hook: Receiver, *answers: tuple[int, object]) -> tuple[str, str]:
    hook.answers = list(answers)
    policies = parse_policies(f'[own_workflows]\nwebhook_hosts = ["127.0.0.1:{hook.port}"]\n')
    team = await factories.sales_team(h.sessions)
    lead = await factories.lead(h.sessions, name="Zoé", team_id=team.rep.team_id,
                                owner_id=team.rep.id)
    definition = await published(h, SCORING.replace("URL", hook.url), team.admin, policies)
    view = await (await enrolled(h, definition.id, lead.id, team.admin, policies)).result()
    [told] = await eventually(lambda: h.mail.to(team.rep.email))
    return view.outcome, told.subject


async def test_the_webhooks_answer_decides_the_branch(scoring: Harness, hook: Receiver) -> None:
    assert await scored(scoring, hook, (200, {"score": 72, "tier": "gold"})) == (
        "", "A hot lead: Zoé")
    assert hook.calls[0].json()["object"]["name"] == "Zoé"
    assert hook.calls[0].headers["x-crmflow-signature"].startswith("sha256=")


async def test_a_low_score_takes_the_other_way(scoring: Harness, hook: Receiver) -> None:
    assert await scored(scoring, hook, (200, {"score": 12})) == ("nurtured", "Nurture Zoé")


async def test_a_receiver_failing_is_retried_then_reads_as_status_0(
    scoring: Harness, hook: Receiver,
) -> None:
    assert await scored(scoring, hook, (500, {})) == ("nurtured", "Nurture Zoé")
    assert len(hook.calls) == 6  # every attempt the retry policy allows, then it moved on
    assert len({c.headers["x-crmflow-delivery"] for c in hook.calls}) == 1
