"""The real stack, started as the README's run command starts it: `crmflow dev`.

Dev server with its UI, worker, API, SQLite CRM database and mail sink, all as one
subprocess on free ports; the test talks HTTP to it, reads the mailbox folder, stops it with
Ctrl-C (SIGINT), starts it again on the same data, and finds everything still there.
"""

from __future__ import annotations

import email
import email.policy
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.e2e

POLICIES = """
[lead_nurturing]
step_delay = "PT1S"
content_wait = "PT3S"
max_loops = 1
call_task_due = "PT1H"
lead_ttl = "PT1M"

[quote_approval]
approval_timeout = "PT4S"
reminder_every = "PT1S"
on_timeout = "validate"
quote_validity = "PT2M"
"""


@dataclass
class Stack:
    process: subprocess.Popen[str]
    env: dict[str, str]
    api: str
    ui: str
    mail_dir: Path
    tokens: dict[str, str]
    output: list[str]

    def http(self, who: str) -> httpx.Client:
        return httpx.Client(base_url=self.api, timeout=30,
                            headers={"Authorization": f"Bearer {self.tokens[who]}"})

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(timeout=60)
        assert self.process.stdout is not None
        self.output += self.process.stdout.read().splitlines()
        return code


def crmflow() -> str:
    return str(Path(sys.executable).parent / "crmflow")


def start_stack(env: dict[str, str], stderr_path: Path) -> Stack:
    process = subprocess.Popen(
        [crmflow(), "dev"], env=env, stdout=subprocess.PIPE, text=True,
        stderr=stderr_path.open("a"),
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line.rstrip("\n"))
        if line.strip() == "crmflow ready":
            break
    else:
        process.kill()
    if not output or output[-1] != "crmflow ready":
        process.kill()
        pytest.fail("the stack did not start:\n" + "\n".join(output) + "\n"
                    + stderr_path.read_text()[-3000:])
    tokens = {}
    for line in output:
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("crm_"):
            tokens[parts[1].split("@")[0]] = parts[2]
    return Stack(process, env, f"http://127.0.0.1:{env['CRMFLOW_API_PORT']}",
                 f"http://127.0.0.1:{env['CRMFLOW_TEMPORAL_UI_PORT']}",
                 Path(env["CRMFLOW_DATA_DIR"]) / "mail", tokens, output)


def dev_env(tmp_path: Path, policies: str | None = POLICIES) -> dict[str, str]:
    """The environment of a `crmflow dev` of its own: its folder, free ports, JSON logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    env.update({
        "CRMFLOW_DATA_DIR": str(tmp_path / "data"),
        "CRMFLOW_API_PORT": str(free_port()),
        "CRMFLOW_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "CRMFLOW_TEMPORAL_UI_PORT": str(free_port()),
        "CRMFLOW_SMTP_PORT": str(free_port()),
        "CRMFLOW_LOG_FORMAT": "json",
    })
    if policies is not None:
        policy_file = tmp_path / "policies.toml"
        policy_file.write_text(policies)
        env["CRMFLOW_POLICY_FILE"] = str(policy_file)
    return env


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    return dev_env(tmp_path)


@pytest.fixture
def stack(stack_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    running = start_stack(stack_env, tmp_path / "stack.log")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait()


def eventually(probe: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still {value!r} after {timeout} s")
        time.sleep(0.2)


def mailbox(folder: Path) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(folder.glob("*.eml"))]


def test_the_stack_runs_a_sale_end_to_end_and_resumes_after_a_restart(
    stack: Stack, tmp_path: Path
) -> None:
    # Where to look, as printed.
    assert any("API docs" in line and f"{stack.api}/docs" in line for line in stack.output)
    assert any("Temporal UI" in line and stack.ui in line for line in stack.output)
    assert set(stack.tokens) >= {"admin", "alice", "maria", "website"}
    assert httpx.get(f"{stack.api}/health").json() == {
        "status": "ok", "database": "ok", "temporal": "ok"
    }
    assert httpx.get(f"{stack.api}/docs").status_code == 200
    assert httpx.get(stack.ui, follow_redirects=True).status_code == 200

    # `crmflow users create` gives a working token.
    created = subprocess.run(
        [crmflow(), "users", "create", "--name", "Nina Manager", "--email",
         "nina@crmflow.localhost", "--role", "sales_manager", "--team", "Sales"],
        env=stack.env, capture_output=True, text=True, timeout=60, check=True,
    )
    stack.tokens["nina"] = created.stdout.strip()
    assert stack.http("nina").get("/me").json()["role"] == "sales_manager"

    website, alice, nina = stack.http("website"), stack.http("alice"), stack.http("nina")

    # A newsletter sign-up: nurturing emails flow, the white paper download reaches Alice.
    lead = website.post("/leads", json={"name": "Jane Buyer", "email": "jane@acme.example",
                                        "company": "Acme", "team_id": 1}).json()
    eventually(lambda: "white_paper" in [
        e["purpose"] for e in alice.get(f"/leads/{lead['id']}").json()["emails"]])
    website.post(f"/leads/{lead['id']}/events",
                 json={"type": "content_downloaded", "content": "white_paper"})
    [task] = eventually(lambda: alice.get("/tasks").json())
    assert task["kind"] == "call_lead"

    # Alice qualifies, quotes 25 %, Nina approves, the customer accepts: won.
    qualified = alice.post(f"/leads/{lead['id']}/qualify",
                           json={"qualified": True, "need": "CRM", "budget": 20000})
    assert qualified.json()["status"] == "qualified"
    quote = alice.post("/quotes", json={
        "lead_id": lead["id"], "discount_pct": 25,
        "lines": [{"description": "CRM licence", "quantity": 20, "unit_price": "50.00"}],
    }).json()
    assert alice.post(f"/quotes/{quote['id']}/submit").json()["status"] == "pending_approval"
    decided = nina.post(f"/quotes/{quote['id']}/decision",
                        json={"approve": True, "comment": "first customer in the region"})
    assert decided.json()["status"] == "validated"
    assert alice.post(f"/quotes/{quote['id']}/send").json()["status"] == "sent"
    won = website.post(f"/quotes/{quote['id']}/customer-response", json={"accepted": True})
    assert won.json()["status"] == "won"
    eventually(lambda: alice.get(f"/leads/{lead['id']}").json()["status"] == "won")

    # A second quote nobody decides on is validated by rule after the approval timeout.
    second_lead = alice.post("/leads", json={"name": "Olaf", "email": "olaf@fjord.example",
                                             "company": "Fjord"}).json()
    alice.post(f"/leads/{second_lead['id']}/qualify",
               json={"qualified": True, "need": "CRM", "budget": 5000})
    second = alice.post("/quotes", json={"lead_id": second_lead["id"], "discount_pct": 30,
                                         "lines": [{"description": "Audit", "quantity": 1,
                                                    "unit_price": "900"}]}).json()
    alice.post(f"/quotes/{second['id']}/submit")
    validated = eventually(
        lambda: alice.get(f"/quotes/{second['id']}").json()["status"] == "validated", 30)
    assert validated
    history = alice.get(f"/quotes/{second['id']}").json()["history"]
    assert history[-1]["reason"] == "no decision within 4 seconds: validated by rule"

    # The mailbox holds every email once, as .eml files.
    messages = mailbox(stack.mail_dir)
    keys = [m["X-Crmflow-Key"] for m in messages]
    assert len(keys) == len(set(keys))
    to_jane = [m["Subject"] for m in messages if m["To"] == "jane@acme.example"]
    assert f"Your quote {quote['id']} from Alice Rep" in to_jane
    reminders = [m for m in messages if m["X-Crmflow-Purpose"].startswith(
        "submission_1:pending_approval:approval_reminder")]
    assert reminders, "the undecided quote reminded its managers"
    outbox = stack.http("admin").get("/emails?limit=500").json()
    assert sorted(e["status"] for e in outbox) == ["sent"] * len(outbox)

    # The processes, as an engineer finds them in Temporal visibility.
    quotes = eventually(lambda: stack.http("maria").get(
        "/processes?type=quote_approval&status=won").json())
    assert [p["workflow_id"] for p in quotes] == [f"quote-{quote['id']}"]

    # Ctrl-C stops everything cleanly; the next run resumes the same data.
    assert stack.stop() == 0
    assert stack.output[-1] == "crmflow stopped"
    again = start_stack(stack.env, tmp_path / "stack.log")
    try:
        assert again.tokens["alice"] == stack.tokens["alice"]
        alice = again.http("alice")
        assert alice.get(f"/leads/{lead['id']}").json()["status"] == "won"
        process = again.http("maria").get(f"/processes/quote-{quote['id']}").json()
        assert process["execution_status"] == "COMPLETED"
        assert process["state"]["status"] == "won"
        assert again.stop() == 0
    finally:
        if again.process.poll() is None:
            again.process.kill()
