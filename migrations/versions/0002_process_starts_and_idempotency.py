"""process starts, idempotent requests, one active lead per email

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "status IN ('new', 'nurturing', 'engaged', 'qualified')"


def upgrade() -> None:
    op.create_table('process_starts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process', sa.String(length=64), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('input', sa.Text(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_starts'))
    )
    with op.batch_alter_table('process_starts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_process_starts_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_starts_workflow_id'), ['workflow_id'], unique=False)

    op.create_table('idempotent_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotent_requests_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotent_requests')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotent_requests_user_id'))
    )

    duplicates = op.get_bind().execute(sa.text(
        f"SELECT email, COUNT(*) FROM leads WHERE {ACTIVE} GROUP BY email HAVING COUNT(*) > 1"
    )).all()
    if duplicates:
        listed = ", ".join(f"{email} ({count} leads)" for email, count in duplicates[:20])
        raise RuntimeError(
            "migration 0002 makes a lead's email unique among active leads, but these emails "
            f"have several active leads: {listed}. Disqualify the duplicates "
            "(POST /leads/{id}/qualify with qualified=false and a reason), then migrate again."
        )
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.create_index('uq_leads_active_email', ['email'], unique=True,
                              postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_index('uq_leads_active_email')
    op.drop_table('idempotent_requests')
    with op.batch_alter_table('process_starts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_starts_workflow_id'))
        batch_op.drop_index(batch_op.f('ix_process_starts_started_at'))
    op.drop_table('process_starts')
