"""The bench's floor (``bench.floor``) keeps crmflow's guarantees when its worker dies: it
is reviewed like product code, so a floor figure is the cost of the same work done
correctly, not of a cheat. PostgreSQL, the floor's API with two processes, its worker killed
(SIGKILL) twice while leads sign up and quotes are submitted, sent and won; then its audit
(``bench.floor.audit``) finds nothing lost, doubled or invented — and finds what is."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from bench import seed
from bench.floor.audit import WINDOW, audit
from bench.floor.flows import TASK_QUEUE
from bench.http import ApiError, LeanClient
from bench.processes import spawn
from bench.stack import Stack, _polling, running_stack
from crm import db
from tests.conftest import POSTGRES_SERVER
from tests.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(400)]
LEADS, DEALS, KILLS = 40, 12, 2


async def kill_and_restart(stack: Stack) -> None:
    killed = stack.parts["floor-worker"]
    os.killpg(killed.pid, signal.SIGKILL)
    killed.process.wait()
    stack.parts["floor-worker"] = spawn("floor-worker", killed.argv, killed.env,
                                        stack.workdir)
    await _polling(stack.client, TASK_QUEUE, stack.parts["floor-worker"])


async def until_done(http: LeanClient, path: str, body: object, headers: dict[str, str],
                     wanted: str) -> None:
    """A client that retries what did not answer (503, a lost connection, a timeout), as a
    client should; a retry finding the step done (409 naming the status) is done."""
    deadline = time.monotonic() + 120
    while True:
        try:
            answer = await http.post(path, body, headers)
            assert answer.json()["status"] == wanted, (path, answer.json())
            return
        except ApiError as error:
            if error.status == 409 and wanted in str(error):
                return
            if error.status != 503 and error.status != 409:
                raise
        except (OSError, TimeoutError):
            pass
        assert time.monotonic() < deadline, f"{path} never answered {wanted}"
        await asyncio.sleep(0.5)


async def test_the_floor_loses_doubles_and_invents_nothing_when_its_worker_is_killed() -> None:
    async with running_stack("postgresql", postgres_server=POSTGRES_SERVER,
                             api_processes=2) as stack:
        engine = db.create_engine(stack.database_url)
        try:
            quotes = await seed.quotes_for_processes(engine, stack.people, DEALS,
                                                     discount_pct=Decimal(10),
                                                     status="draft")
        finally:
            await engine.dispose()
        website = {"Authorization": f"Bearer {stack.people.website.token}"}
        rep = {"Authorization": f"Bearer {stack.people.rep.token}"}
        async with LeanClient(stack.floor_url, connections=8, timeout=60) as http:

            async def sign_up(n: int) -> None:
                await asyncio.sleep(n * 0.1)
                await http.post("/leads", {"name": f"Fault {n}", "email": f"fault-{n}@x.example",
                                           "team_id": stack.people.team_id}, website)

            async def deal(n: int) -> None:
                await asyncio.sleep(n * 0.3)
                quote = quotes[n].quote_id
                await until_done(http, f"/quotes/{quote}/submit", None, rep, "validated")
                await until_done(http, f"/quotes/{quote}/send", None, rep, "sent")
                await until_done(http, f"/quotes/{quote}/customer-response",
                                 {"accepted": True}, website, "won")

            async def kills() -> None:
                for _ in range(KILLS):
                    await asyncio.sleep(1.5)
                    await kill_and_restart(stack)

            await asyncio.gather(*(sign_up(n) for n in range(LEADS)),
                                 *(deal(n) for n in range(DEALS)), kills())

        await eventually(lambda: len([k for k in stack.mail.accepted
                                      if k.startswith("floor-lead-")]) >= LEADS, timeout=90)
        won = [f"floor-quote-{q.quote_id}" for q in quotes]
        for workflow_id in won:
            assert await asyncio.wait_for(
                stack.client.get_workflow_handle(workflow_id).result(), 90) == "won"
        await asyncio.sleep(1)  # the last outbox marks commit
        findings = await audit(stack.database_url, stack.client, dict(stack.mail.accepted))
        in_window = [f for f in findings if f.startswith(WINDOW)]
        assert [f for f in findings if f not in in_window] == []
        assert len(in_window) <= KILLS, in_window  # each kill may open the window once

        # The audit is no formality: a lead whose status the process never wrote, and an
        # email accepted twice, are found.
        url = make_url(stack.database_url).set(drivername="postgresql")
        connection = await asyncpg.connect(url.render_as_string(hide_password=False))
        try:
            lead_id = await connection.fetchval(
                "SELECT min(id) FROM leads WHERE workflow_id LIKE 'floor-lead-%'")
            await connection.execute("UPDATE leads SET status = 'new' WHERE id = $1", lead_id)
        finally:
            await connection.close()
        accepted = dict(stack.mail.accepted)
        accepted[f"floor-quote-{quotes[0].quote_id}:won"] += 1
        findings = await audit(stack.database_url, stack.client, accepted)
        assert f"lost: floor-lead-{lead_id} is new, not nurturing" in findings
        assert f"{WINDOW}: floor-quote-{quotes[0].quote_id}:won accepted 2 times" in findings
