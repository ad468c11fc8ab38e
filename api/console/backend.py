"""The console reads and acts through the API itself, as the signed-in user: the same rules,
the same refusals, word for word."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx
from fastapi import Request

from api.console.session import ConsoleSession


class Refused(Exception):
    """The API said no (or could not answer): its status and its words."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, str]] | None = None
                 ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        """A 422's problems, each ``{"field": "steps.call", "message": …}``."""


class Backend:
    """The API, called in-process with the session's token."""

    def __init__(self, request: Request, session: ConsoleSession) -> None:
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app),
                                      base_url="http://console", headers=session.bearer)
        self.request_id = request.headers.get("x-request-id")
        self.seen: dict[str, Any] = {}
        """What this page has read already (one page asks for /me several times)."""

    async def get(self, path: str, **params: Any) -> Any:
        """The JSON the API answers; Refused when it refuses."""
        query = {k: v for k, v in params.items() if v not in (None, "")}
        key = f"{path}?{sorted(query.items())}"
        if key not in self.seen:
            self.seen[key] = _json(await self.http.get(path, params=query))
        return self.seen[key]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        self.seen.clear()  # what was read before may have changed
        return _json(await self.http.post(path, json=body or {}))

    async def attach(self, path: str, name: str, content: bytes, content_type: str,
                     kind: str | None) -> Any:
        """Upload one file (multipart), as the API takes it."""
        self.seen.clear()
        return _json(await self.http.post(path, files={"file": (name, content, content_type)},
                                          data={"kind": kind} if kind else {}))

    async def fetch(self, path: str) -> httpx.Response:
        """The API's answer as it is (a file's bytes); Refused when it refuses."""
        response = await self.http.get(path)
        if response.status_code >= 400:
            _json(response)
        return response

    async def put(self, path: str, body: dict[str, Any]) -> Any:
        self.seen.clear()
        return _json(await self.http.put(path, json=body))

    async def close(self) -> None:
        await self.http.aclose()


def _json(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = str(body.get("detail", response.reason_phrase))
            errors = list(body.get("errors") or [])
        except (ValueError, AttributeError):
            detail, errors = response.reason_phrase, []
        raise Refused(response.status_code, detail, errors)
    return response.json()


async def form(request: Request) -> dict[str, str]:
    """An HTML form's fields (application/x-www-form-urlencoded)."""
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
