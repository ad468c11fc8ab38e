"""Request metrics for Prometheus, served on their own port (CRMFLOW_API_METRICS_PORT)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import structlog
from fastapi import FastAPI
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    multiprocess,
    start_http_server,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REGISTRY = CollectorRegistry()
REQUESTS = Counter(
    "crmflow_api_requests_total", "HTTP requests answered", ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "crmflow_api_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    registry=REGISTRY,
)
log = structlog.get_logger("api.request")


def serve_metrics(port: int, *, processes_writing_to: Path | None = None) -> WSGIServer:
    """Serve /metrics on its own port, in a thread; ``shutdown()`` the result to stop it.
    ``processes_writing_to``: serve the sums of what several API processes write to that
    folder (prometheus_client's multiprocess mode) instead of this process's own figures."""
    registry = REGISTRY
    if processes_writing_to is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=str(processes_writing_to))
    server, _thread = start_http_server(port, registry=registry)
    return server


def install(app: FastAPI) -> None:
    app.add_middleware(RequestObserver)


class RequestObserver:
    """Counts, times and logs each request under its request id (``X-Request-ID``, taken
    from the caller or made up), and answers with that id. Plain ASGI: Starlette's
    ``BaseHTTPMiddleware`` runs every request in a task of its own and costs far more."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        request_id = given.decode("latin-1") or uuid.uuid4().hex
        started, status = time.perf_counter(), 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode("latin-1"))]
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, answer)
            finally:
                elapsed = time.perf_counter() - started
                route = getattr(scope.get("route"), "path", "unmatched")
                REQUESTS.labels(scope["method"], route, str(status)).inc()
                LATENCY.labels(scope["method"], route).observe(elapsed)
                log.info("request", method=scope["method"], path=scope["path"], status=status,
                         ms=round(elapsed * 1000, 1))
