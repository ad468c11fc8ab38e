"""A lean HTTP/1.1 client for the load: keep-alive connections, one per concurrent caller.

On two cores the client shares the CPU with the servers it measures, and httpx costs several
milliseconds per request (a no-op endpoint measured ~110 req/s with httpx against ~1,800 with
this, in one run): through httpx the bench would measure itself. This speaks just what the
API and the no-op app answer — ``Content-Length`` bodies on keep-alive connections — and
nothing else (no redirects, no chunked bodies, no TLS).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

IDLE_REOPEN = 4.0
"""uvicorn closes a keep-alive connection idle for 5 s: reopen before it might."""


class ApiError(RuntimeError):
    """The server answered with an error status; the message carries the status and body."""

    def __init__(self, status: int, path: str, body: bytes) -> None:
        super().__init__(f"{status} for {path}: {body[:300].decode(errors='replace')}")
        self.status = status


@dataclass
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used_at: float


class LeanClient:
    """``async with LeanClient(url, connections=32, headers=...) as http``; then
    ``await http.get(path)`` or ``await http.post(path, body)``, errors raised."""

    def __init__(self, base_url: str, *, connections: int, headers: dict[str, str] | None = None,
                 timeout: float = 30.0) -> None:
        parts = urlsplit(base_url)
        assert parts.scheme == "http" and parts.hostname and parts.port
        self.host, self.port = parts.hostname, parts.port
        self.headers = {"Host": f"{self.host}:{self.port}", **(headers or {})}
        self.timeout = timeout
        self._idle: asyncio.LifoQueue[_Connection | None] = asyncio.LifoQueue()
        for _ in range(connections):
            self._idle.put_nowait(None)  # opened when first needed

    async def __aenter__(self) -> LeanClient:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection is not None:
                connection.writer.close()

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return await self.request("GET", path, None, headers)

    async def post(self, path: str, body: Any = None,
                   headers: dict[str, str] | None = None) -> Answer:
        return await self.request("POST", path, body, headers)

    async def request(self, method: str, path: str, body: Any = None,
                      headers: dict[str, str] | None = None) -> Answer:
        connection = await self._idle.get()
        try:
            if connection is None or time.monotonic() - connection.used_at > IDLE_REOPEN:
                if connection is not None:
                    connection.writer.close()
                connection = None
                reader, writer = await asyncio.open_connection(self.host, self.port)
                connection = _Connection(reader, writer, time.monotonic())
            answer = await asyncio.wait_for(
                self._exchange(connection, method, path, body, headers), self.timeout)
            connection.used_at = time.monotonic()
        except BaseException:
            if connection is not None:
                connection.writer.close()
            self._idle.put_nowait(None)
            raise
        self._idle.put_nowait(connection)
        if answer.status >= 400:
            raise ApiError(answer.status, path, answer.body)
        return answer

    async def _exchange(self, connection: _Connection, method: str, path: str, body: Any,
                        headers: dict[str, str] | None) -> Answer:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1"]
        lines += [f"{k}: {v}" for k, v in {**self.headers, **(headers or {})}.items()]
        if method != "GET":
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        connection.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        head = await connection.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        fields = dict(line.split(":", 1) for line in header_lines if ":" in line)
        length = {k.strip().lower(): v.strip() for k, v in fields.items()}.get("content-length")
        if length is None:
            raise RuntimeError(f"{method} {path}: an answer without Content-Length")
        return Answer(int(status_line.split(" ", 2)[1]),
                      await connection.reader.readexactly(int(length)))
