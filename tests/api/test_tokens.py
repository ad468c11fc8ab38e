"""Tokens: revocable, the dev stack's demo tokens refused in production, and no token or
password ever written to the logs."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from temporalio.testing import WorkflowEnvironment

from api import signatures
from api.app import create_app
from crm import db
from crm.repo import people
from crm.temporal import connect
from crmflow.mail_sink import MailSink
from tests.api.conftest import Api, running_api
from tests.waiting import eventually
from workflows.roles import Role


async def test_a_revoked_token_is_refused(api: Api) -> None:
    assert (await api.call("GET", "/me", "rep")).status_code == 200
    async with db.unit_of_work(api.sessions) as session:
        rep = await people.get_user(session=session, user_id=api.team.rep.id)
        assert await people.revoke_tokens(session=session, user=rep) == 1
    refused = await api.call("GET", "/me", "rep")
    assert refused.status_code == 401
    assert refused.json()["detail"] == "unknown, revoked or expired token"


async def test_demo_tokens_are_refused_in_production(api: Api) -> None:
    async with db.unit_of_work(api.sessions) as session:
        user = await people.create_user(session=session, name="Ada", email="ada@x.example",
                                        role=Role.ADMIN)
        demo = await people.issue_token(session=session, user=user, label="demo")
        real = await people.issue_token(session=session, user=user, label="cli")
    production = api.settings.model_copy(update={
        "environment": "production", "console_secret": SecretStr("ours")})
    app = create_app(production, temporal=await connect(production))
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://crm"
    ) as http:
        refused = await http.get("/me", headers={"Authorization": f"Bearer {demo}"})
        allowed = await http.get("/me", headers={"Authorization": f"Bearer {real}"})
    assert refused.status_code == 401
    assert allowed.status_code == 200
    # …while the dev stack keeps its demo users.
    assert (await api.http.get("/me", headers={"Authorization": f"Bearer {demo}"})).status_code == (
        200)


def json_logs_so_far(
    read: Callable[[], list[dict[str, Any]]], seen: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    seen.extend(read())
    return seen


async def test_no_token_or_password_reaches_the_logs(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path, json_logs: Callable[[], list[dict[str, Any]]],
) -> None:
    import logging

    logging.getLogger().setLevel("DEBUG")  # SQL and library chatter included
    seen: list[dict[str, Any]] = []
    password = "smtp-S3cret-!"  # the sink offers no AUTH: every login fails, and is logged
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           smtp_username="crm", smtp_password=SecretStr(password)) as api:
        lead = (await api.call("POST", "/leads", "website", json={
            "name": "Jane", "email": "jane@acme.example"})).json()
        await api.call("GET", f"/leads/{lead['id']}", "rep")
        await api.call("GET", "/me", "manager", headers={"x-request-id": "r-1"})
        await api.http.get("/me", headers={"Authorization": "Bearer crm_wrong-guess"})
        await eventually(lambda: "SMTP" in str(json_logs_so_far(json_logs, seen)))
        tokens = list(api.tokens.values())
        settings_shown = repr(api.settings)
    logged = "\n".join(str(line) for line in [*seen, *json_logs()])

    assert logged, "the run wrote logs"
    for secret in [*tokens, "crm_wrong-guess", password]:
        assert secret not in logged
        assert secret not in settings_shown


async def test_an_expired_token_is_refused(api: Api) -> None:
    async with db.unit_of_work(api.sessions) as session:
        rep = await people.get_user(session=session, user_id=api.team.rep.id)
        fresh = await people.issue_token(session=session, user=rep, valid_for=timedelta(days=1))
        stale = await people.issue_token(session=session, user=rep,
                                         valid_for=timedelta(seconds=-1))
    assert (await api.http.get("/me", headers={"Authorization": f"Bearer {fresh}"})
            ).status_code == 200
    assert (await api.http.get("/me", headers={"Authorization": f"Bearer {stale}"})
            ).status_code == 401


SECRET = "shared-with-the-website"


@pytest.fixture
async def signed_api(
    dev_server: WorkflowEnvironment, database_url: str, mail_sink: tuple[MailSink, int],
    tmp_path: Path,
) -> AsyncIterator[Api]:
    async with running_api(dev_server, database_url, mail_sink, tmp_path,
                           integration_secret=SecretStr(SECRET)) as api:
        yield api


def signed(body: bytes, *, at: int | None = None, secret: str = SECRET,
           target: str = "/leads") -> dict[str, str]:
    stamp = at if at is not None else int(time.time())
    return {"X-Crmflow-Timestamp": str(stamp), "content-type": "application/json",
            "X-Crmflow-Signature": signatures.sign(secret, stamp, "POST", target, body)}


async def test_outside_systems_must_sign_and_cannot_replay(signed_api: Api) -> None:
    api = signed_api
    body = json.dumps({"name": "Jane", "email": "jane@acme.example"}).encode()

    unsigned = await api.call("POST", "/leads", "website", content=body,
                              headers={"content-type": "application/json"})
    tampered = await api.call("POST", "/leads", "website", headers=signed(body),
                              content=body.replace(b"Jane", b"Eve"))
    stale = await api.call("POST", "/leads", "website", content=body,
                           headers=signed(body, at=int(time.time()) - 3600))
    wrong_key = await api.call("POST", "/leads", "website", content=body,
                               headers=signed(body, secret="guess"))
    for refused, why in ((unsigned, "sign the request"), (tampered, "does not match"),
                         (stale, "timestamp"), (wrong_key, "does not match")):
        assert refused.status_code == 401, refused.text
        assert why in refused.json()["detail"]

    headers = signed(body)
    accepted = await api.call("POST", "/leads", "website", content=body, headers=headers)
    replayed = await api.call("POST", "/leads", "website", content=body, headers=headers)
    assert accepted.status_code == 201, accepted.text
    assert replayed.status_code == 401
    assert "replay" in replayed.json()["detail"]
    # People signed in with their own tokens are not asked to sign.
    assert (await api.call("GET", "/leads", "rep")).status_code == 200
