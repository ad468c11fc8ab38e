"""Before a body is parsed: at most 1 MiB (413), and JSON where JSON is expected (415)."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024
"""The largest request body the API reads."""
NOT_JSON = ("/inbound/", "/console")
"""Paths whose bodies are not JSON: raw email (RFC 5322), the console's HTML forms."""


class BodyGate:
    """Refuses an oversized body (also when sent in chunks) or a body that is not JSON."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        # isascii: str.isdigit() also takes digits int() refuses, such as "²"
        if length is not None and length.isascii() and length.isdigit() and int(length) > MAX_BODY:
            return await _problem(send, scope, 413, "Content too large",
                                  f"a request body is at most {MAX_BODY} bytes")
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        has_body = (length not in (None, "0")) or "chunked" in headers.get(
            "transfer-encoding", "")
        if (has_body and not scope["path"].startswith(NOT_JSON)
                and kind != "application/json" and not kind.endswith("+json")):
            return await _problem(send, scope, 415, "Unsupported media type",
                                  "send the body as JSON (Content-Type: application/json)")
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_BODY:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _problem(send, scope, 413, "Content too large",
                           f"a request body is at most {MAX_BODY} bytes")


class _TooLarge(Exception):
    pass


async def _problem(send: Send, scope: Scope, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail, "instance": scope["path"]}).encode()
    headers: list[Any] = [(b"content-type", b"application/problem+json"),
                          (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
