"""Signing in to the console: a user's API token is exchanged for a session of its own.

Signing in checks the token, then issues a *console token* for the same user (label
``console``, expiring with the session) and keeps it in a cookie — signed with the console
secret, ``HttpOnly``, ``SameSite=Strict``, expiring. Every page reads the API with that token,
so the console is held to exactly the API's rules. Signing out revokes it. Every form carries
a CSRF token derived from the session; a post without the right one is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response

from crm import db
from crm.models import User
from crm.repo import people
from crm.settings import Settings

COOKIE = "crm_console"
SIGN_IN_CSRF = "crm_console_csrf"
CONSOLE_TOKENS = "console"


@dataclass
class ConsoleSession:
    token: str
    """The console token: the API's bearer for this session."""
    expires: int

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def _sign(settings: Settings, text: str) -> str:
    key = settings.console_secret.get_secret_value().encode()
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def csrf_token(settings: Settings, session: ConsoleSession) -> str:
    """The token every form of this session carries."""
    return _sign(settings, f"csrf:{session.token}")[:32]


def valid_csrf(settings: Settings, session: ConsoleSession | None, given: str) -> bool:
    return session is not None and hmac.compare_digest(csrf_token(settings, session), given)


def read(request: Request, settings: Settings) -> ConsoleSession | None:
    """The session the request's cookie carries, if it is genuine and not expired."""
    raw = request.cookies.get(COOKIE, "")
    body, _, signature = raw.rpartition(".")
    if not body or not hmac.compare_digest(_sign(settings, body), signature):
        return None
    try:
        token, _, expires = base64.urlsafe_b64decode(body.encode()).decode().rpartition("|")
    except (ValueError, UnicodeDecodeError):
        return None
    if not expires.isdigit() or int(expires) < time.time():
        return None
    return ConsoleSession(token, int(expires))


async def open_session(
    sessions: db.Sessions, settings: Settings, api_token: str, response: Response
) -> User | None:
    """Check the user's API token; set the cookie of a new console session. None: refused."""
    hours = settings.console_session_hours
    refused = ("demo",) if settings.environment == "production" else ()
    async with db.unit_of_work(sessions) as session:
        user = await people.user_by_token(session=session, token=api_token,
                                          refused_labels=refused)
        if user is None:
            return None
        token = await people.issue_token(session=session, user=user, label=CONSOLE_TOKENS,
                                         valid_for=timedelta(hours=hours))
    expires = int(time.time() + hours * 3600)
    body = base64.urlsafe_b64encode(f"{token}|{expires}".encode()).decode()
    response.set_cookie(COOKIE, f"{body}.{_sign(settings, body)}", max_age=int(hours * 3600),
                        httponly=True, samesite="strict",
                        secure=settings.environment == "production", path="/console")
    return user


async def close_session(sessions: db.Sessions, session: ConsoleSession,
                        response: Response) -> None:
    """Revoke the console token and forget the cookie."""
    async with db.unit_of_work(sessions) as db_session:
        await people.revoke_token(session=db_session, token=session.token)
    response.delete_cookie(COOKIE, path="/console", httponly=True, samesite="strict")


def sign_in_csrf(request: Request) -> str:
    """Before signing in there is no session: a random token, in a cookie and in the form."""
    return request.cookies.get(SIGN_IN_CSRF) or secrets.token_urlsafe(16)


def remember_sign_in_csrf(response: Response, token: str) -> None:
    response.set_cookie(SIGN_IN_CSRF, token, httponly=True, samesite="strict", path="/console")
