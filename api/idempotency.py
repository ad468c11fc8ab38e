"""``Idempotency-Key``: a client may send any POST that creates or records something twice.

The same key with the same request (method, path, body) gets the first answer again, and
nothing is done twice; the same key with another request is refused (422). Keys are kept per
user. A create claims its key in the transaction that creates the row, so two concurrent
requests with one key wait for each other: the second gets the first one's answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import CurrentUser
from api.inputs import SingleLine
from crm.models import IdempotentRequest, User
from crm.repo import idempotency

REPLAYED = "Idempotent-Replayed"
"""Header on an answer given again for a repeated key."""


class Replay(Exception):
    """Answer with what the first request under this key got."""

    def __init__(self, kept: IdempotentRequest) -> None:
        super().__init__(kept.key)
        self.kept = kept

    def response(self) -> JSONResponse:
        return JSONResponse(json.loads(self.kept.response), status_code=self.kept.status_code,
                            headers={REPLAYED: "true"})


@dataclass
class Once:
    """The request's Idempotency-Key (``key`` is None when it sent none)."""

    key: str | None
    user: User
    fingerprint: str
    _claimed: IdempotentRequest | None = None

    @property
    def update_id(self) -> str | None:
        """The id of the decision this request hands its process (``None``: a fresh one).

        A retry under the same key names the same update, so Temporal answers it with the
        first one's outcome instead of applying it twice — also when the first request got
        no answer (503: the worker died while the process was deciding) and kept none."""
        if self.key is None:
            return None
        digest = hashlib.sha256(f"{self.fingerprint}/{self.key}".encode()).hexdigest()
        return f"request-{self.user.id}-{digest[:32]}"

    async def answered(self, session: AsyncSession) -> IdempotentRequest | None:
        """The answer kept under this key, if any (422 if it was for another request)."""
        if self.key is None:
            return None
        kept = await idempotency.find(session=session, user_id=self.user.id, key=self.key)
        if kept is not None and kept.fingerprint != self.fingerprint:
            raise RequestValidationError([{
                "loc": ("header", "Idempotency-Key"), "type": "value_error",
                "msg": "this key was used for another request; use a new key for each request",
            }])
        return kept

    async def claim(self, session: AsyncSession) -> None:
        """Take the key for this request's transaction; a concurrent request with the same
        key waits for it, then is answered like it (``Replay``)."""
        if self.key is None:
            return
        if (kept := await self.answered(session)) is not None:
            raise Replay(kept)
        try:
            async with session.begin_nested():
                self._claimed = await idempotency.keep(
                    session=session, user_id=self.user.id, key=self.key,
                    fingerprint=self.fingerprint, status_code=0, response="null")
        except IntegrityError:
            kept = await self.answered(session)
            assert kept is not None
            raise Replay(kept) from None

    async def keep(self, session: AsyncSession, status_code: int, answer: Any,
                   *, workflow_id: str | None = None) -> None:
        """Keep the answer under the key, in the session's transaction."""
        if self.key is None:
            return
        response = json.dumps(jsonable_encoder(answer))
        if self._claimed is None:
            try:
                async with session.begin_nested():
                    self._claimed = await idempotency.keep(
                        session=session, user_id=self.user.id, key=self.key,
                        fingerprint=self.fingerprint, status_code=status_code,
                        response=response, workflow_id=workflow_id)
            except IntegrityError:
                pass  # a concurrent request with this key kept its answer first
            return
        self._claimed.status_code, self._claimed.response = status_code, response
        self._claimed.workflow_id = workflow_id
        await session.flush()


async def once(
    request: Request,
    user: CurrentUser,
    key: Annotated[
        SingleLine | None,  # no control characters: the key is stored, and compared
        Header(alias="Idempotency-Key", min_length=1, max_length=200,
               description="Send the same key again to repeat this request safely: the "
                           "first answer comes back and nothing is done twice"),
    ] = None,
) -> Once:
    return Once(key, user, fingerprint(request.method, request.url.path, await request.body()))


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests the same request: method, path and body (JSON compared as
    data, not as text)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True).encode() if body else b""
    except ValueError:
        canonical = body
    return hashlib.sha256(f"{method} {path}\n".encode() + canonical).hexdigest()


OnceDep = Annotated[Once, Depends(once)]


def install(app: FastAPI) -> None:
    @app.exception_handler(Replay)
    async def replay(request: Request, answer: Replay) -> JSONResponse:
        return answer.response()
