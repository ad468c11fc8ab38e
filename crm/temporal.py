"""The Temporal client, built from settings: a local dev server, a cluster, or Temporal Cloud."""

from __future__ import annotations

import functools
import sys
import typing
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter
from temporalio.api.common.v1 import Payload
from temporalio.client import Client
from temporalio.contrib.pydantic import PydanticJSONPlainPayloadConverter
from temporalio.converter import (
    CompositePayloadConverter,
    DataConverter,
    DefaultPayloadConverter,
    JSONPlainPayloadConverter,
)
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from crm.settings import Settings

_PROCESS_MODULES = sys.modules
"""The process's own modules (the workflow sandbox swaps ``sys.modules`` while it runs)."""


def _shared(hint: Any) -> bool:
    """Whether every class in the type hint is the process's own, shared by every workflow
    run: not a class a sandboxed workflow module created for its run alone."""
    if hint is type(None):
        return True
    if isinstance(hint, type):
        found: Any = _PROCESS_MODULES.get(hint.__module__)
        for name in hint.__qualname__.split("."):
            found = getattr(found, name, None)
        return found is hint
    return all(_shared(arg) for arg in typing.get_args(hint))


@functools.lru_cache(maxsize=1024)
def _type_adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


class _SharedTypeAdapters(PydanticJSONPlainPayloadConverter):
    """Pydantic's JSON converter, its type adapters built once per process.

    The SDK makes a payload converter for every workflow run, and pydantic's keeps its type
    adapters per converter: every new process paid for building the schema of its input and
    of each activity's result again (about a tenth of the worker's time taking processes in).
    The types come from modules the sandbox passes through (``worker/sandbox.py``), the same
    classes in every run, so their adapters are shared; a class a sandboxed module made for
    one run alone is converted as before, never kept.
    """

    def from_payload(self, payload: Payload, type_hint: type | None = None) -> Any:
        hint = Any if type_hint is None else type_hint
        try:
            adapter = _type_adapter(hint) if _shared(hint) else None
        except TypeError:  # an unhashable hint
            adapter = None
        if adapter is None:
            return super().from_payload(payload, type_hint)
        return adapter.validate_json(payload.data)


class PayloadConverter(CompositePayloadConverter):
    """The SDK's default converters, JSON through pydantic (adapters shared)."""

    def __init__(self) -> None:
        super().__init__(*(
            _SharedTypeAdapters() if isinstance(c, JSONPlainPayloadConverter) else c
            for c in DefaultPayloadConverter.default_encoding_payload_converters
        ))


DATA_CONVERTER = DataConverter(payload_converter_class=PayloadConverter)
"""crmflow's data converter: pydantic's (``temporalio.contrib.pydantic``), the same on the
wire, with type adapters shared across workflow runs."""


def connect_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect``: address, namespace, TLS and API key."""
    options: dict[str, Any] = {
        "target_host": settings.temporal_address,
        "namespace": settings.temporal_namespace,
        "data_converter": DATA_CONVERTER,
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
