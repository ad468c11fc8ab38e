"""The webhook step's call: only allowed hosts, never an address on a private network or
this machine unless listed itself, signed, retried on 5xx, the declared answer fields
handed back — against a loopback receiver the test starts."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.webhooks import Refused, WebhookActivities, address_to_call
from crm import db
from crm.policies import PolicyStore
from crm.settings import Settings
from tests import factories
from tests.webhook_receiver import receiving
from workflows.own.contracts import WebhookAnswer, WebhookCall, webhook_host_allowed

SECRET = "webhook-test-secret"


@pytest.mark.parametrize(("url", "allowed", "refusal"), [
    ("https://hooks.example.com/x", set(), "hooks.example.com is not a host webhooks may call"),
    ("https://evil.example.com/x", {"hooks.example.com"}, "evil.example.com is not a host"),
    ("http://localhost:8080/x", {"localhost:8080"},
     "an address on a private network or this machine, which is not listed itself"),
    ("http://127.0.0.1:8080/x", {"127.0.0.1:9090"}, "127.0.0.1 is not a host"),
    ("http://169.254.169.254/latest", {"169.254.169.254:8080"}, "169.254.169.254 is not a host"),
    ("ftp://hooks.example.com/x", {"hooks.example.com"}, "a webhook calls an http(s) address"),
])
async def test_a_call_to_a_host_not_allowed_is_refused(url: str, allowed: set[str],
                                                       refusal: str) -> None:
    with pytest.raises(Refused) as refused:
        await address_to_call(url, frozenset(allowed))
    assert refusal in str(refused.value)
    assert refused.value.non_retryable


async def test_an_address_listed_itself_is_called() -> None:
    assert await address_to_call("http://127.0.0.1:8080/x",
                                 frozenset({"127.0.0.1:8080"})) == "127.0.0.1"
    assert await address_to_call("http://10.1.2.3/x", frozenset({"10.1.2.3"})) == "10.1.2.3"


def _activities(sessions: db.Sessions, tmp_path: object, hosts: list[str],
                secret: str | None = SECRET) -> WebhookActivities:
    policy = tmp_path / "policies.toml"  # type: ignore[operator]
    policy.write_text(f"[own_workflows]\nwebhook_hosts = {hosts!r}\n".replace("'", '"'))
    settings = Settings(webhook_secret=SecretStr(secret) if secret else None,
                        policy_file=policy)
    return WebhookActivities(sessions, settings, PolicyStore(policy))


async def test_a_call_is_signed_retried_on_a_5xx_and_answers_its_declared_fields(
    sessions: db.Sessions, tmp_path: object,
) -> None:
    lead = await factories.lead(sessions, name="Zoé", country="FR")
    async with receiving((503, {}), (200, {"score": 72, "tier": "gold", "other": 1})) as hook:
        webhooks = _activities(sessions, tmp_path, [f"127.0.0.1:{hook.port}"])
        call = WebhookCall(hook.url, "definition-1-lead-1:score:1", "Scoring", "score",
                           "lead", lead.id, {"score": "number", "tier": "text"})
        env = ActivityEnvironment()
        with pytest.raises(ApplicationError) as later:
            await env.run(webhooks.call_webhook, call)
        assert not later.value.non_retryable and "answered 503" in str(later.value)
        answer = await env.run(webhooks.call_webhook, call)

    assert answer == WebhookAnswer(200, {"score": 72, "tier": "gold"})
    assert len(hook.calls) == 2
    first, second = hook.calls
    assert first.path == "/hooks/lead"
    assert first.headers["x-crmflow-delivery"] == second.headers["x-crmflow-delivery"] == (
        "definition-1-lead-1:score:1")
    for received in hook.calls:
        signed = received.headers["x-crmflow-timestamp"].encode() + b"." + received.body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert received.headers["x-crmflow-signature"] == f"sha256={expected}"
    body = second.json()
    assert (body["step"], body["object"]["type"], body["object"]["id"]) == (
        "score", "lead", lead.id)
    assert (body["object"]["name"], body["object"]["country"]) == ("Zoé", "FR")


async def test_a_redirect_is_an_answer_never_followed(sessions: db.Sessions,
                                                      tmp_path: object) -> None:
    lead = await factories.lead(sessions)
    async with receiving((302, {})) as hook:
        webhooks = _activities(sessions, tmp_path, [f"127.0.0.1:{hook.port}"])
        answer = await ActivityEnvironment().run(webhooks.call_webhook, WebhookCall(
            hook.url, "d:s:1", "Scoring", "s", "lead", lead.id))
    assert answer.status == 302 and len(hook.calls) == 1


async def test_without_a_secret_or_once_the_host_is_removed_nothing_is_called(
    sessions: db.Sessions, tmp_path: object,
) -> None:
    lead = await factories.lead(sessions)
    async with receiving((200, {})) as hook:
        call = WebhookCall(hook.url, "d:s:1", "Scoring", "s", "lead", lead.id)
        unsigned = _activities(sessions, tmp_path, [f"127.0.0.1:{hook.port}"], secret=None)
        with pytest.raises(Refused, match="no CRMFLOW_WEBHOOK_SECRET"):
            await ActivityEnvironment().run(unsigned.call_webhook, call)
        removed = _activities(sessions, tmp_path, [])
        with pytest.raises(Refused, match="is not a host webhooks may call"):
            await ActivityEnvironment().run(removed.call_webhook, call)
    assert hook.calls == []


def test_an_empty_secret_is_no_secret() -> None:
    assert Settings(webhook_secret=SecretStr("")).webhook_secret is None


@pytest.mark.parametrize(("url", "allowed", "expected"), [
    ("https://hooks.example.com/x", {"hooks.example.com"}, True),
    ("https://hooks.example.com/x", {"hooks.example.com:443"}, True),  # the scheme's port
    ("https://hooks.example.com:8443/x", {"hooks.example.com:443"}, False),
    ("http://user@hooks.example.com:8080/x", {"hooks.example.com:8080"}, True),
    ("ftp://hooks.example.com/x", {"hooks.example.com"}, False),
])
def test_the_saved_definition_and_the_call_read_the_allow_list_alike(
    url: str, allowed: set[str], expected: bool,
) -> None:
    assert webhook_host_allowed(url, frozenset(allowed)) is expected
