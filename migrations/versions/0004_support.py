"""support tickets

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('new', 'queued', 'open', 'waiting_on_customer', 'back_office')"


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('requester_name', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('invoice_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('dispute_upheld', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('rating', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('rating_comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reopenings', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('opened_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tickets_invoice_id_invoices'), 'invoices',
                                    ['invoice_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_tickets_opened_by_id_users'), 'users',
                                    ['opened_by_id'], ['id'])
        batch_op.create_index('uq_tickets_open_invoice', ['invoice_id'], unique=True,
                              postgresql_where=sa.text(OPEN), sqlite_where=sa.text(OPEN))

    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_ticket_messages_message_id'),
                                          ['message_id'])
        batch_op.create_unique_constraint(batch_op.f('uq_ticket_messages_idempotency_key'),
                                          ['idempotency_key'])


def downgrade() -> None:
    with op.batch_alter_table('ticket_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_ticket_messages_idempotency_key'),
                                 type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_ticket_messages_message_id'), type_='unique')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('message_id')

    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('uq_tickets_open_invoice')
        batch_op.drop_constraint(batch_op.f('fk_tickets_opened_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_tickets_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_column('opened_by_id')
        batch_op.drop_column('reopenings')
        batch_op.drop_column('rating_comment')
        batch_op.drop_column('rating')
        batch_op.drop_column('dispute_upheld')
        batch_op.drop_column('resolution')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('waiting_since')
        batch_op.drop_column('invoice_id')
        batch_op.drop_column('requester_name')
