"""The stack's processes: each in a session of its own (Ctrl-C reaches the bench alone, which
stops them in order), logging to a file, stopped together — held ones resumed first.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 5.0


class StackError(RuntimeError):
    """A part of the stack did not start; the message says which and where its log is."""


LOCAL_PORTS = range(20000, 32768)
"""Below the ephemeral ports (Linux 32768-60999, macOS 49152-65535), which the system hands
out to anything that binds port 0 or connects: a port the system gave us could be handed
again, to a Temporal dev server's own services or to an outgoing connection, before the
part we picked it for binds it (a dev server's UI once failed so: address already in use)."""
_handed_out: set[int] = set()


def free_port() -> int:
    """A free local port outside the ephemeral range, never the same one twice."""
    for port in random.sample(LOCAL_PORTS, 100):
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise StackError(f"no free port between {LOCAL_PORTS.start} and {LOCAL_PORTS.stop - 1}")


@dataclass
class Part:
    """One process of the stack, with its log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str]
    env: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> int:
        """Resident memory of the process and its children, in bytes."""
        main = psutil.Process(self.pid)
        return sum(p.memory_info().rss for p in [main, *main.children(recursive=True)])

    def cpu(self) -> float:
        """CPU seconds (user + system) of the process and its children so far."""
        main = psutil.Process(self.pid)
        return sum(sum(p.cpu_times()[:2]) for p in [main, *main.children(recursive=True)])

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise StackError(f"{self.name} stopped (exit {self.process.returncode}); "
                             f"last lines of {self.log}:\n{tail(self.log)}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def spawn(name: str, argv: list[str], env: dict[str, str], folder: Path) -> Part:
    log = folder / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True, cwd=ROOT)
    return Part(name, process, log, argv, env)


def stop_all(parts: list[Part], patience: float = STOP_TIMEOUT) -> None:
    """Stop the processes together: resumed if held, asked politely, then killed."""
    running = [p for p in parts if p.process.poll() is None]
    for part in running:
        with contextlib.suppress(psutil.Error):
            psutil.Process(part.pid).resume()
        part.process.send_signal(signal.SIGINT if part.name == "temporal" else signal.SIGTERM)
    deadline = time.monotonic() + patience
    for part in running:
        try:
            part.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:  # the processes it runs too (its own session)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(part.pid, signal.SIGKILL)
            part.process.wait()
