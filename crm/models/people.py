"""The people who work in the CRM: teams, users with a role and skills, their API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.models.base import Base, Timestamped


class Team(Base, Timestamped):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    territory: Mapped[str | None] = mapped_column(String(120))
    last_assigned_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_teams_last_assigned_user_id_users")
    )
    """The rep who got the team's last lead: round-robin starts after them."""


class User(Base, Timestamped):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    role: Mapped[str] = mapped_column(String(32), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)

    team: Mapped[Team | None] = relationship(foreign_keys=[team_id], lazy="joined")
    skills: Mapped[list[UserSkill]] = relationship(cascade="all, delete-orphan", lazy="raise")
    """Set when the user is made; never loaded with them (every request loads its caller):
    routing queries skills itself."""


class UserSkill(Base):
    """A skill or ticket category a support agent handles (used by routing)."""

    __tablename__ = "user_skills"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    skill: Mapped[str] = mapped_column(String(64), primary_key=True)


class ApiToken(Base, Timestamped):
    """A bearer token; only its SHA-256 is kept."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(String(120))
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    """When the token stops working by itself; None: until revoked."""

    user: Mapped[User] = relationship(lazy="joined")


class SeenSignature(Base):
    """A signed request from an outside system, kept while its timestamp is acceptable: the
    same signature again is a replay, refused."""

    __tablename__ = "seen_signatures"

    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)
