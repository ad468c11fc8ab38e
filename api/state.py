"""What the API holds while it runs: database sessions, policies, the Temporal connection."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import structlog
from temporalio.client import Client

from crm import db
from crm.files.store import Store
from crm.policies import PolicyStore
from crm.settings import Settings
from crm.start_marks import StartMarks
from crm.temporal import connect

log = structlog.get_logger(__name__)


class TemporalConnection:
    """Connects on first use and again after a failure, so the API starts without Temporal."""

    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self.settings = settings
        self._client = client
        self._lock = asyncio.Lock()

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                self._client = await connect(self.settings)
                log.info("connected to Temporal", address=self.settings.temporal_address)
        return self._client


@dataclass
class ApiState:
    settings: Settings
    sessions: db.Sessions
    read_sessions: db.Sessions
    """For reads outside a request's unit of work (the caller's token, /health): on SQLite
    they never queue behind a writer."""
    policies: PolicyStore
    temporal: TemporalConnection
    start_marks: StartMarks
    """Marks of the processes this API started, written in batches."""
    files: Store
    """Where files' contents are kept (``crm.files.store``)."""
    health_probes: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    """Health probes still running, by system: the next check waits on them again."""
