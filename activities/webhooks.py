"""The webhook step of your own workflows: POST the enrolled object to a host an admin allows,
signed, and hand the answer back.

Only hosts on the policy's ``[own_workflows] webhook_hosts`` are called (checked again at
each call: removing a host stops its calls at once). The host's name is resolved here and the
call goes to the address checked, never resolved again: an address on a private network, a
link-local or this machine's (10.0.0.5, 169.254.169.254, 127.0.0.1) is called only when it is
listed itself, so a listed name that resolves to one (a DNS trick) is refused. Redirects are
not followed.

The signature: ``X-Crmflow-Signature: sha256=<hex>``, the HMAC-SHA256 with
``CRMFLOW_WEBHOOK_SECRET`` of ``<X-Crmflow-Timestamp>.<body>``; ``X-Crmflow-Delivery`` is the
same on every attempt, for the receiver to take a retried call once. Without a secret no
webhook is called.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import socket
import time
from importlib.metadata import version
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from crm import db
from crm.policies import PolicyStore
from crm.repo import own
from crm.settings import Settings
from workflows.own.contracts import (
    CALL_WEBHOOK,
    WEBHOOK_REFUSED,
    WebhookAnswer,
    WebhookCall,
    webhook_host_allowed,
)

log = structlog.get_logger(__name__)
LARGEST_ANSWER = 1024 * 1024
"""An answer longer than this is taken for its status alone."""
USER_AGENT = f"crmflow/{version('crmflow')}"
TRY_AGAIN = frozenset({408, 425, 429})
"""Answers that mean "later" (with every 5xx): the call is tried again."""


class Refused(ApplicationError):
    """A call that is never made, or never tried again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, type=WEBHOOK_REFUSED, non_retryable=True)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


async def address_to_call(url: str, allowed: frozenset[str]) -> str:
    """The address the call goes to: the URL's host must be allowed, and each address it
    resolves to public or listed itself; Refused otherwise."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme not in ("https", "http") or not host:
        raise Refused(f"{url}: a webhook calls an http(s) address")
    if not webhook_host_allowed(url, allowed):
        raise Refused(f"{host} is not a host webhooks may call ([own_workflows] "
                      f"webhook_hosts)")
    try:
        found = await asyncio.get_running_loop().getaddrinfo(host, port,
                                                             type=socket.SOCK_STREAM)
    except OSError as error:
        raise ApplicationError(f"{host}: cannot be resolved ({error})") from error
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found]
    for address in addresses:
        listed = {str(address), f"{address}:{port}", f"[{address}]:{port}"} & allowed
        if not address.is_global and not listed:
            raise Refused(f"{host} resolves to {address}, an address on a private network "
                          f"or this machine, which is not listed itself")
    return str(addresses[0])


def _pinned(url: str, address: str) -> str:
    """The URL with its host replaced by the address checked (the Host header keeps the
    name)."""
    parts = urlsplit(url)
    ip = ipaddress.ip_address(address)
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _fields(response: httpx.Response, wanted: dict[str, str]) -> dict[str, Any]:
    if not wanted or len(response.content) > LARGEST_ANSWER:
        return {}
    try:
        found = response.json()
    except ValueError:
        return {}
    return {k: found[k] for k in wanted if k in found} if isinstance(found, dict) else {}


class WebhookActivities:
    def __init__(self, sessions: db.Sessions, settings: Settings, policies: PolicyStore,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.sessions, self.settings, self.policies = sessions, settings, policies
        self.transport = transport

    @activity.defn(name=CALL_WEBHOOK)
    async def call_webhook(self, call: WebhookCall) -> WebhookAnswer:
        secret = self.settings.webhook_secret
        if secret is None:
            raise Refused("no CRMFLOW_WEBHOOK_SECRET is set: webhooks are signed, or not sent")
        allowed = frozenset(self.policies.current().own_workflows.webhook_hosts)
        address = await address_to_call(call.url, allowed)
        async with db.unit_of_work(self.sessions) as session:
            fields = await own.fields(session=session, object_type=call.object_type,
                                      object_id=call.object_id)
        body = json.dumps({"delivery": call.delivery, "definition": call.definition,
                           "step": call.step, "object": {"type": call.object_type,
                                                         "id": call.object_id, **fields}},
                          default=str, sort_keys=True).encode()
        timestamp = str(int(time.time()))
        parts = urlsplit(call.url)
        headers = {"Content-Type": "application/json", "Host": parts.netloc.rpartition("@")[2],
                   "User-Agent": USER_AGENT, "X-Crmflow-Delivery": call.delivery,
                   "X-Crmflow-Timestamp": timestamp,
                   "X-Crmflow-Signature": signature(secret.get_secret_value(), timestamp, body)}
        async with httpx.AsyncClient(transport=self.transport, follow_redirects=False,
                                     timeout=10.0) as http:
            try:
                response = await http.post(
                    _pinned(call.url, address), content=body, headers=headers,
                    extensions={"sni_hostname": parts.hostname} if parts.scheme == "https"
                    else {})
            except httpx.HTTPError as error:
                raise ApplicationError(f"{parts.hostname}: {error!r}") from error
        if response.status_code >= 500 or response.status_code in TRY_AGAIN:
            raise ApplicationError(f"{parts.hostname} answered {response.status_code}: "
                                   f"tried again")
        log.info("webhook called", url=call.url, delivery=call.delivery,
                 status=response.status_code)
        return WebhookAnswer(response.status_code, _fields(response, call.answer))
