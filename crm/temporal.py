"""The Temporal client, built from settings: a local dev server, a cluster, or Temporal Cloud."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from crm.settings import Settings


def connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: address, namespace, TLS and API key."""
    options: dict[str, Any] = {
        "target_host": settings.temporal_address,
        "namespace": settings.temporal_namespace,
        "data_converter": pydantic_data_converter,
    }
    tls_files = (settings.temporal_tls_client_cert, settings.temporal_tls_client_key)
    if any(tls_files) and not all(tls_files):
        raise ValueError(
            "CRMFLOW_TEMPORAL_TLS_CLIENT_CERT and CRMFLOW_TEMPORAL_TLS_CLIENT_KEY go together"
        )
    wants_tls = (
        settings.temporal_tls
        or all(tls_files)
        or settings.temporal_tls_server_ca is not None
        or settings.temporal_api_key is not None
    )
    if wants_tls:
        options["tls"] = TLSConfig(
            client_cert=_read(settings.temporal_tls_client_cert),
            client_private_key=_read(settings.temporal_tls_client_key),
            server_root_ca_cert=_read(settings.temporal_tls_server_ca),
            domain=settings.temporal_tls_server_name,
        )
    if settings.temporal_api_key is not None:
        options["api_key"] = settings.temporal_api_key.get_secret_value()
    return options


def _read(path: Path | None) -> bytes | None:
    return path.read_bytes() if path else None


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    return await Client.connect(**connect_options(settings), runtime=runtime)
