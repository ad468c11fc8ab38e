"""A webhook receiver the tests start on loopback (the only servers a webhook step calls in
tests): it records each call and answers what the test scripted."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from tests.conftest import free_port
from tests.waiting import eventually


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    port: int
    answers: list[tuple[int, Any]] = field(default_factory=list)
    """Scripted answers, in turn (status, JSON body); the last one is repeated."""
    calls: list[Call] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/lead"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.calls.append(Call(scope["path"], {k.decode(): v.decode()
                                               for k, v in scope["headers"]}, body))
        status, answer = self.answers[min(len(self.calls), len(self.answers)) - 1] \
            if self.answers else (200, {})
        payload = json.dumps(answer).encode()
        headers = [(b"content-type", b"application/json")]
        if 300 <= status < 400:
            headers.append((b"location", b"http://127.0.0.1:1/elsewhere"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


@asynccontextmanager
async def receiving(*answers: tuple[int, Any]) -> AsyncIterator[Receiver]:
    receiver = Receiver(free_port(), list(answers))
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=receiver.port,
                                           lifespan="off", log_config=None))
    serving = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    try:
        yield receiver
    finally:
        server.should_exit = True
        await serving
