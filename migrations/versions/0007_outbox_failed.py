"""outbox: an email that cannot be delivered is 'failed' (was 'refused')

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
from collections.abc import Sequence

from alembic import op


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("UPDATE email_outbox SET status = 'failed' WHERE status = 'refused'")


def downgrade() -> None:
    op.execute("UPDATE email_outbox SET status = 'refused' WHERE status = 'failed'")
