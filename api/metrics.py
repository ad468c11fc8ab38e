"""Request metrics for Prometheus, served on their own port (CRMFLOW_API_METRICS_PORT)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from wsgiref.simple_server import WSGIServer

import structlog
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

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


def serve_metrics(port: int) -> WSGIServer:
    """Serve /metrics on its own port, in a thread; ``shutdown()`` the result to stop it."""
    server, _thread = start_http_server(port, registry=REGISTRY)
    return server


def install(app: FastAPI) -> None:
    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]
                      ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id):
            response = await call_next(request)
            elapsed = time.perf_counter() - started
            route = getattr(request.scope.get("route"), "path", "unmatched")
            REQUESTS.labels(request.method, route, str(response.status_code)).inc()
            LATENCY.labels(request.method, route).observe(elapsed)
            log.info("request", method=request.method, path=request.url.path,
                     status=response.status_code, ms=round(elapsed * 1000, 1))
        response.headers["x-request-id"] = request_id
        return response
