"""Ctrl-C stops the dev stack (`crmflow dev`) within 10 s, even with requests in flight; a
second Ctrl-C stops it at once. Nothing it started is left running."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.test_stack import Stack, dev_env, start_stack

pytestmark = pytest.mark.e2e

PROMISED = 10.0
"""Seconds from Ctrl-C until the stack has stopped (README, issue 11)."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return dev_env(tmp_path)


@contextmanager
def running(env: dict[str, str], log: Path) -> Iterator[tuple[Stack, list[psutil.Process]]]:
    """The stack, and every process it started; whatever is left is killed afterwards."""
    stack = start_stack(env, log)
    tree = [psutil.Process(stack.process.pid), *psutil.Process(stack.process.pid).children(
        recursive=True)]
    try:
        yield stack, tree
    finally:
        for process in tree:
            with suppress(psutil.NoSuchProcess):
                process.kill()
        stack.process.wait(timeout=10)


@contextmanager
def slow_upload(stack: Stack) -> Iterator[socket.socket]:
    """A request whose body never finishes arriving: in flight until the server gives up."""
    host, port = stack.api.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    conn.sendall((f"POST /leads HTTP/1.1\r\nHost: {host}\r\n"
                  f"Authorization: Bearer {stack.tokens['website']}\r\n"
                  "Content-Type: application/json\r\nContent-Length: 4096\r\n\r\n"
                  '{"name": "Slow Sam", ').encode())
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def busy(stack: Stack, clients: int = 6) -> Iterator[Counter[str]]:
    """Clients sending requests back to back (sign-ups, listings) until the stack is gone;
    counts what they got."""
    answers: Counter[str] = Counter()
    done = threading.Event()

    def client(n: int) -> None:
        with stack.http("website") as website, stack.http("admin") as admin:
            for i in range(10_000):
                if done.is_set():
                    return
                try:
                    if i % 2:
                        answer = admin.get("/processes?limit=50")
                    else:
                        answer = website.post("/leads", json={
                            "name": f"Lead {n}-{i}", "email": f"lead{n}-{i}@acme.example"})
                    answers[str(answer.status_code)] += 1
                except httpx.HTTPError as error:
                    answers[type(error).__name__] += 1
                    time.sleep(0.05)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield answers
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=40)


def alive(tree: list[psutil.Process]) -> list[int]:
    def running(process: psutil.Process) -> bool:
        try:
            return process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [process.pid for process in tree if running(process)]


def stopped_within(process: subprocess.Popen[str], seconds: float, what: str) -> float:
    started = time.monotonic()
    try:
        process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{what}: the stack was still running {seconds:g} s after Ctrl-C")
    return time.monotonic() - started


def wait_for_line(stack: Stack, text: str, timeout: float = 10) -> None:
    assert stack.process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stack.process.stdout], [], [], 0.1)
        if ready:
            line = stack.process.stdout.readline()
            stack.output.append(line.rstrip("\n"))
            if text in line:
                return
    pytest.fail(f"the stack never said {text!r}: {stack.output[-5:]}")


def test_ctrl_c_stops_the_stack_within_10_s_with_requests_in_flight_and_twice_at_once(
    env: dict[str, str], tmp_path: Path,
) -> None:
    log = tmp_path / "stack.log"

    # Ctrl-C while clients keep sending and one request's body never ends.
    with running(env, log) as (stack, tree), busy(stack) as answers:
        with slow_upload(stack):
            time.sleep(2)  # requests flowing
            in_flight = sum(answers.values())
            stack.process.send_signal(signal.SIGINT)
            took = stopped_within(stack.process, PROMISED, "one Ctrl-C")
        assert stack.process.returncode == 0
        assert stack.process.stdout is not None
        stack.output += stack.process.stdout.read().splitlines()
        assert stack.output[-1] == "crmflow stopped"
        assert not alive(tree), "the stack left processes running (the Temporal server?)"
    assert in_flight > 0 and answers["201"] > 0, answers
    assert not {code for code in answers if code.startswith("5") and code != "503"}, answers
    print(f"\nCtrl-C: stopped in {took:.1f} s with {len(answers)} kinds of answers in flight "
          f"({dict(answers)})")

    # Again on the same data; this time a second Ctrl-C does not wait for the slow request.
    with running(env, log) as (stack, tree), slow_upload(stack):
        assert httpx.get(f"{stack.api}/health", timeout=10).json()["status"] == "ok"
        stack.process.send_signal(signal.SIGINT)
        wait_for_line(stack, "stopping crmflow")
        stack.process.send_signal(signal.SIGINT)
        forced = stopped_within(stack.process, PROMISED, "two Ctrl-Cs")
        assert stack.process.returncode == 130
        assert not alive(tree)
    print(f"Ctrl-C twice: stopped in {forced:.1f} s")
