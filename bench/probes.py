"""When things happened, as the bench sees them: emails reaching the SMTP sink (crmflow's
side effects) and datagrams from the bare worker's activity (the bare side's).

Both record the time of the event (the sink's clock on arrival, the bare worker's clock when
its activity runs; one machine, one clock), keyed so a measure can wait for and time its own.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from crmflow.mail_sink import MailSink


class Arrivals:
    """Named events with the time each was first seen; safe to feed from any thread."""

    def __init__(self) -> None:
        self._times: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, key: str, at: float) -> None:
        with self._lock:
            self._times.setdefault(key, at)

    def time_of(self, key: str) -> float | None:
        with self._lock:
            return self._times.get(key)

    def times_of(self, keys: Iterable[str]) -> dict[str, float]:
        """The keys seen so far, with their times."""
        with self._lock:
            return {k: self._times[k] for k in keys if k in self._times}

    async def wait_for(self, keys: Iterable[str], *, until: float) -> dict[str, float]:
        """Wait until every key is seen or the wall clock passes ``until``; what was seen."""
        wanted = list(keys)
        while True:
            seen = self.times_of(wanted)
            if len(seen) == len(wanted) or time.time() >= until:
                return seen
            await asyncio.sleep(0.05)


class TimedMailSink(MailSink):
    """crmflow's mail sink, also noting when each message arrived, by its outbox key
    (``<workflow id>:<purpose>``)."""

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__(folder)
        self.arrivals = Arrivals()
        self.accepted: Counter[str] = Counter()
        """How often each key was accepted: the floor's audit counts duplicates by it."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        at = time.time()
        answer = await super().handle_DATA(server, session, envelope)
        with self._lock:
            self.messages.clear()  # only the times are kept: the bench sends thousands
        header = _header(envelope.original_content or envelope.content, b"X-Crmflow-Key")
        self.arrivals.record(header, at)
        with self._lock:
            self.accepted[header] += 1
        return answer


def _header(raw: object, name: bytes) -> str:
    assert isinstance(raw, bytes)
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        if line[: len(name) + 1].lower() == name.lower() + b":":
            return line[len(name) + 1:].strip().decode()
    return ""


def start_timed_mail_sink(port: int) -> tuple[Controller, TimedMailSink]:
    """crmflow's SMTP sink on loopback (as ``crmflow.mail_sink.start_mail_sink``), timed."""
    sink = TimedMailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    return controller, sink


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        tag, _, at = data.decode().partition("\t")
        self.arrivals.record(tag, float(at))


async def listen_for_reports(port: int) -> tuple[asyncio.DatagramTransport, Arrivals]:
    """The bare worker's reports (``bench.bare.Reporter``) on a UDP port on loopback."""
    arrivals = Arrivals()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _Datagrams(arrivals), local_addr=("127.0.0.1", port))
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    return transport, arrivals
