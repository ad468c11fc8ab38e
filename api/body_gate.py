"""Before a body is parsed: at most 1 MiB (413), and JSON where JSON is expected (415); a
file uploaded to an object (``POST /tickets/7/files``, multipart) may be as large as the
settings allow a file to be (``CRMFLOW_FILE_MAX_BYTES``), with room for the form around it."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1024 * 1024
"""The largest request body the API reads."""
NOT_JSON = ("/inbound/", "/console")
"""Paths whose bodies are not JSON: raw email (RFC 5322), the console's HTML forms."""
UPLOADS = re.compile(
    r"^(/console)?/(quotes|projects|invoices|tickets)/[^/]+(/milestones/[^/]+)?/files$")
"""Paths that take a file (multipart/form-data): the API's, and the console's forms."""
MAIL = "/inbound/email"
"""An email: its attachments as large as a file may be, in base64 (4 bytes for 3)."""
FORM_ROOM = 64 * 1024
"""What a multipart form may add to its file: boundaries, headers, the other fields."""


class BodyGate:
    """Refuses an oversized body (also when sent in chunks) or a body that is not JSON."""

    def __init__(self, app: ASGIApp, largest_file: int = MAX_BODY) -> None:
        self.app = app
        self.largest_file = largest_file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        upload = kind == "multipart/form-data" and bool(UPLOADS.match(scope["path"]))
        largest = (self.largest_file + FORM_ROOM if upload
                   else max(MAX_BODY, self.largest_file * 4 // 3 + FORM_ROOM)
                   if scope["path"] == MAIL else MAX_BODY)
        too_large = (f"a file is at most {self.largest_file} bytes (CRMFLOW_FILE_MAX_BYTES)"
                     if upload else f"a request body is at most {largest} bytes")
        # isascii: str.isdigit() also takes digits int() refuses, such as "²"
        if length is not None and length.isascii() and length.isdigit() and int(length) > largest:
            return await _problem(send, scope, 413, "Content too large", too_large)
        has_body = (length not in (None, "0")) or "chunked" in headers.get(
            "transfer-encoding", "")
        if (has_body and not upload and not scope["path"].startswith(NOT_JSON)
                and kind != "application/json" and not kind.endswith("+json")):
            return await _problem(send, scope, 415, "Unsupported media type",
                                  "send the body as JSON (Content-Type: application/json)")
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > largest:
                raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await _problem(send, scope, 413, "Content too large", too_large)


class _TooLarge(Exception):
    pass


async def _problem(send: Send, scope: Scope, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status,
                       "detail": detail, "instance": scope["path"]}).encode()
    headers: list[Any] = [(b"content-type", b"application/problem+json"),
                          (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
