"""Users, teams and API tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from crm.errors import Conflict, NotFound
from crm.models import ApiToken, Team, User, UserSkill
from crm.models.base import utcnow
from workflows.roles import Role

TOKEN_PREFIX = "crm_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def get_or_create_team(*, session: AsyncSession, name: str) -> Team:
    team = await session.scalar(select(Team).where(Team.name == name))
    if team is None:
        team = Team(name=name)
        session.add(team)
        await session.flush()
    return team


async def create_user(
    *,
    session: AsyncSession,
    name: str,
    email: str,
    role: Role,
    team: str | None = None,
    skills: list[str] | None = None,
) -> User:
    if await session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists")
    team_row = await get_or_create_team(session=session, name=team) if team else None
    user = User(
        name=name,
        email=email,
        role=role.value,
        team_id=team_row.id if team_row else None,
        skills=[UserSkill(skill=s) for s in skills or []],
    )
    session.add(user)
    await session.flush()
    return user


async def issue_token(
    *, session: AsyncSession, user: User, label: str | None = None,
    valid_for: timedelta | None = None,
) -> str:
    """A new bearer token for the user (expiring after ``valid_for``, if given); only its
    hash is stored, so show it now or never."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + valid_for if valid_for is not None else None
    session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label,
                         expires_at=expires_at))
    await session.flush()
    return token


_USER_COLUMNS = tuple(User.__table__.c.keys())
_TOKEN_HOLDER = (
    select(*User.__table__.c, ApiToken.token_hash, ApiToken.label, ApiToken.expires_at)
    .join_from(ApiToken, User, ApiToken.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
)
"""A valid token's user and what decides whether it still lets them in: built once."""


async def user_by_token(
    *, session: AsyncSession, token: str, refused_labels: tuple[str, ...] = ()
) -> User | None:
    """The active user the token belongs to, or None (also for a token carrying one of
    ``refused_labels``, such as the dev stack's demo tokens in production).

    The database is searched by the token's SHA-256, never by the token, and the stored
    hash is compared in constant time: neither leaks how much of a guess was right.

    Every request asks this: one row read with SQLAlchemy Core, the user made from it
    detached (outside the session: a handler refreshing its session keeps its caller)."""
    wanted = hash_token(token)
    connection = await session.connection()
    row = (await connection.execute(_TOKEN_HOLDER, {"token_hash": wanted})).first()
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    if not row.active or row.label in refused_labels:
        return None
    if row.expires_at is not None and row.expires_at <= utcnow():
        return None
    user = User(**{name: row._mapping[name] for name in _USER_COLUMNS})
    make_transient_to_detached(user)
    return user


async def revoke_token(*, session: AsyncSession, token: str) -> None:
    """Revoke one token (a console session's, when it signs out)."""
    row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()


async def revoke_tokens(*, session: AsyncSession, user: User) -> int:
    """Revoke every token of the user; how many were still valid."""
    rows = list(await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))))
    for row in rows:
        row.revoked_at = utcnow()
    await session.flush()
    return len(rows)


async def get_user(*, session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


async def get_user_by_email(*, session: AsyncSession, email: str) -> User:
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        raise NotFound("user", email)
    return user


async def active_users(
    *, session: AsyncSession, roles: list[Role], team_id: int | None = None
) -> list[User]:
    """Active users holding one of the roles, of the team when one is given, by id."""
    query = select(User).where(User.active, User.role.in_([r.value for r in roles]))
    if team_id is not None:
        query = query.where(User.team_id == team_id)
    return list(await session.scalars(query.order_by(User.id)))
