"""Faults as automated tests, against the real stack: a Temporal dev server on a file,
PostgreSQL, `crmflow api`, two `crmflow worker` processes and a counting SMTP server, while
processes of every kind run (``fault_workload``). Each test prints one summary line (the
README's reliability section quotes them): processes, faults injected, lost, duplicated.

Every wait is bounded and says what it waited for; nothing asserted depends on timing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import POSTGRES_SERVER
from tests.e2e.fault_stack import UNKNOWN_DOMAIN, FaultStack
from tests.e2e.fault_workload import (
    NURTURING,
    OWN_STEPS,
    POLICIES,
    Api,
    Workload,
    audit,
    failed_email_tasks,
    set_up_people,
)

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(480)]


@pytest.fixture
async def stack(postgres_url: str | None, tmp_path: Path) -> AsyncIterator[FaultStack]:
    if postgres_url is None:
        pytest.skip(f"the fault tests need PostgreSQL; none answers at {POSTGRES_SERVER}")
    running = FaultStack(tmp_path)
    try:
        yield await running.start(POLICIES)
    finally:
        await running.close()


async def workload_on(stack: FaultStack, invoices: int) -> Workload:
    who = await set_up_people(stack, invoices)
    workload = Workload(stack, Api(stack.api_url, who.tokens), who)
    await workload.prepare()
    return workload


async def mid_flight(stack: FaultStack) -> Workload:
    """Two waves of processes, ten seconds in: emails going out, timers running,
    decisions due."""
    workload = await workload_on(stack, invoices=6)
    workload.wave()
    await asyncio.sleep(4)
    workload.wave()
    await asyncio.sleep(6)
    return workload


KILLS, KILL_EVERY = 10, 10.0
"""The storm: a worker SIGKILLed every ten seconds, ten times, each replaced at once."""
WAVES, WAVE_EVERY = 8, 10.0
"""Sixteen processes of every kind started every ten seconds while the storm lasts."""
TEMPORAL_DOWN = 10.0
DATABASE_DOWN = 30.0
SMTP_DOWN = 60.0
"""The email activity retries with exponential backoff (1, 2, 4, 8, 16, 32, 64 s…): an email
first refused late in the outage waits up to about half the outage again after it ends."""
SETTLE = 180.0
"""Seconds for the stories to end once the fault is over; the processes then get
``AUDIT_WAIT`` more. Both fit in the test's timeout, so a run that fails says why."""
AUDIT_WAIT = 60.0


FIGURES = Path(os.environ.get("CRMFLOW_TEST_ARTIFACTS", ".artifacts")) / "faults.txt"
"""Each test's summary line is also kept here (the README's reliability section quotes it)."""


def report(summary: str) -> None:
    print("\n" + summary)
    FIGURES.parent.mkdir(parents=True, exist_ok=True)
    with FIGURES.open("a") as figures:
        figures.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M} {summary}\n")


async def storm(stack: FaultStack, kills: int, every: float) -> tuple[int, int]:
    """SIGKILL a worker every ``every`` seconds, preferring a moment when it is in the middle
    of an SMTP conversation, and start another at once: how many died mid-conversation, and
    the at-least-once window the kills opened — per kill, the conversations it cut, or one
    (an email accepted just before the kill, its activity not yet reported done)."""
    mid_send = window = 0
    for _ in range(kills):
        await asyncio.sleep(every)
        victim = stack.live_workers()[0]  # the oldest
        for _ in range(150):  # up to 3 s
            if stack.sending(victim):
                break
            await asyncio.sleep(0.02)
        cut = stack.conversations(victim)
        mid_send += cut > 0
        window += max(1, cut)
        victim.kill()
        await asyncio.to_thread(victim.wait, 10)
        stack.start_worker()
    return mid_send, window


async def test_a_storm_of_worker_kills_loses_and_doubles_nothing(stack: FaultStack) -> None:
    """Every new lead is also enrolled in a workflow of the business's own: each enrolment
    ends completed, its emails sent once, its steps entered once and its task made once."""
    started = time.monotonic()
    workload = await workload_on(stack, invoices=2 * WAVES)
    await workload.enrol_new_leads()
    killing = asyncio.create_task(storm(stack, KILLS, KILL_EVERY))
    for _ in range(WAVES):
        workload.wave()
        await asyncio.sleep(WAVE_EVERY)
    mid_send, window = await killing
    await workload.finish(timeout=SETTLE)
    found = await audit(stack, workload, await stack.client(), timeout=AUDIT_WAIT)
    enrolments = [await workload.api.get(f"/enrolments/{e.object_id}", "admin")
                  for e in workload.expected.values() if e.object_type == "enrolment"]
    leads = [await workload.api.get(f"/leads/{e['object_id']}", "admin") for e in enrolments]
    await workload.api.close()
    report(found.summary(
        "worker SIGKILL storm",
        f"{KILLS} worker SIGKILLs {KILL_EVERY:g} s apart ({mid_send} mid-SMTP-conversation, "
        f"{window} emails in the window they opened)",
        time.monotonic() - started))
    found.assert_clean(window_allowed=window)
    assert sum(found.processes.values()) >= 100
    assert mid_send >= 1, "no worker died in the middle of sending"
    assert found.processes["enrolment"] == found.processes["lead"]
    for enrolment, lead in zip(enrolments, leads, strict=True):
        assert ([s["step"] for s in enrolment["steps"]], len(enrolment["tasks"])) == (
            OWN_STEPS, 1), enrolment
        assert lead["company"] == "Fault drill", lead  # the set_field step's write


async def test_temporal_killed_and_restarted_on_its_file_every_process_resumes(
    stack: FaultStack,
) -> None:
    started = time.monotonic()
    workload = await mid_flight(stack)

    stack.kill_temporal()
    api = workload.api
    processes = await until_answered(api, "GET", "/processes", "admin", 503)
    health = await until_answered(api, "GET", "/health", None, 503)
    workload.wave(nurtured=2, sales=1, invoices=1, tickets=1)  # new requests meet it down
    early = workload.signup(0, "early@bird.example")
    lead = await api.call("POST", "/leads", "website", retry=False, key="early", json=early)
    await asyncio.sleep(TEMPORAL_DOWN)
    await stack.start_temporal()

    async def early_bird(n: int) -> None:  # the same request again: its process starts
        await workload.nurtured_lead(n, body=early, key="early")

    workload.launch(early_bird)
    await workload.finish(timeout=SETTLE)
    found = await audit(stack, workload, await stack.client(), timeout=AUDIT_WAIT)
    await api.close()
    report(found.summary(
        "Temporal restart", f"dev server SIGKILLed, down {TEMPORAL_DOWN:g} s, restarted on "
        f"its file", time.monotonic() - started))
    for answer in (processes, lead):
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert int(answer.headers["Retry-After"]) > 0
    assert health.json()["status"] == "degraded" and health.json()["temporal"] == "unavailable"
    found.assert_clean()


async def test_the_database_refusing_connections_loses_and_doubles_nothing(
    stack: FaultStack,
) -> None:
    started = time.monotonic()
    workload = await mid_flight(stack)

    dropped = await stack.refuse_database_connections()
    down = time.monotonic()
    workload.wave(nurtured=2, sales=1, invoices=1, tickets=1)
    api, probes = workload.api, []
    health = await until_answered(api, "GET", "/health", None, 503)
    while time.monotonic() - down < DATABASE_DOWN:
        probes.append(await api.call("GET", "/leads", "admin", retry=False))
        probes.append(await api.call("POST", "/leads", "website", retry=False, json={
            "name": "Refused", "email": f"refused{len(probes)}@db.example"},
            key=f"db-down-{len(probes)}"))
        await asyncio.sleep(1)
    await stack.allow_database_connections()

    await workload.finish(timeout=SETTLE)
    found = await audit(stack, workload, await stack.client(), timeout=AUDIT_WAIT)
    await api.close()
    report(found.summary(
        "database outage", f"PostgreSQL refused connections {DATABASE_DOWN:g} s "
        f"({dropped} open ones dropped)", time.monotonic() - started))
    assert {a.status_code for a in probes} == {503}, Counter(a.status_code for a in probes)
    assert health.json()["status"] == "degraded" and health.json()["database"] == "unavailable"
    found.assert_clean()


async def test_smtp_down_then_back_delivers_each_email_once_and_a_refusal_fails_for_good(
    stack: FaultStack,
) -> None:
    started = time.monotonic()
    workload = await workload_on(stack, invoices=4)
    refused_to = f"nobody@{UNKNOWN_DOMAIN}"

    async def unknown_user(n: int) -> None:  # a rep's lead with an address that does not exist
        await workload.nurtured_lead(n, body=workload.signup(n, refused_to), by="rep")

    workload.launch(unknown_user)
    workload.wave()
    await asyncio.sleep(6)
    stack.stop_smtp()
    accepted_before = len(stack.smtp.messages)
    workload.wave()
    await asyncio.sleep(SMTP_DOWN)
    stack.start_smtp()

    await workload.finish(timeout=SETTLE)
    [lead] = await workload.api.get(f"/leads?email={refused_to}", "admin")
    found = await audit(stack, workload, await stack.client(), failed_ok={lead["id"]},
                        timeout=AUDIT_WAIT)
    failed = await workload.api.get("/emails?status=failed&limit=500", "admin")
    emails, tasks = await failed_email_tasks(stack, lead["id"])
    await workload.api.close()
    report(found.summary(
        "SMTP outage and refusal", f"SMTP server down {SMTP_DOWN:g} s "
        f"({accepted_before} emails accepted before); {refused_to} refused (550)",
        time.monotonic() - started))
    found.assert_clean()
    # The refused address: each email tried, refused once, failed with the reason, its
    # owner (the rep who created the lead) tasked once per email; the process went on.
    assert sorted(e.purpose for e in emails) == sorted(NURTURING)
    assert {e.status for e in emails} == {"failed"}
    assert all("550" in (e.last_error or "") and "unknown user" in (e.last_error or "")
               for e in emails)
    assert stack.smtp.refused == [refused_to] * len(NURTURING)  # never retried after a 550
    assert sorted(e["id"] for e in failed) == sorted(e.id for e in emails)
    assert all("unknown user" in e["last_error"] for e in failed)
    assert sorted(t.assignee_id for t in tasks) == [workload.who.rep_id] * len(NURTURING)
    assert {t.status for t in tasks} == {"open"}


async def until_answered(api: Api, method: str, path: str, who: str | None, status: int,
                         timeout: float = 60) -> httpx.Response:
    """Ask until the API answers ``status`` (bounded): the fault has taken effect."""
    give_up = time.monotonic() + timeout
    while True:
        if who is None:
            answer = await api.http.request(method, path)
        else:
            answer = await api.call(method, path, who, retry=False)
        if answer.status_code == status:
            return answer
        if time.monotonic() > give_up:
            raise AssertionError(f"{method} {path}: {answer.status_code}, not {status}, "
                                 f"after {timeout:g} s")
        await asyncio.sleep(0.5)
