"""invoice dunning: invoice lines, credit, level reached, issuing key; payments' balance

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('amount', sa.Numeric(precision=12, scale=2), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines')),
    sa.UniqueConstraint('invoice_id', 'position', name=op.f('uq_invoice_lines_invoice_id'))
    )
    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_lines_invoice_id'), ['invoice_id'], unique=False)

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credited', sa.Numeric(precision=12, scale=2),
                                      nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('level_reached', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('issued_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('idempotency_key', sa.String(length=300), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_invoices_idempotency_key'),
                                          ['idempotency_key'])
        batch_op.create_foreign_key(batch_op.f('fk_invoices_issued_by_id_users'), 'users',
                                    ['issued_by_id'], ['id'])

    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('balance_after', sa.Numeric(precision=12, scale=2),
                                      nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('recorded_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payments_recorded_by_id_users'), 'users',
                                    ['recorded_by_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payments_recorded_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('recorded_by_id')
        batch_op.drop_column('balance_after')

    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_invoices_issued_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_invoices_idempotency_key'), type_='unique')
        batch_op.drop_column('idempotency_key')
        batch_op.drop_column('issued_by_id')
        batch_op.drop_column('level_reached')
        batch_op.drop_column('credited')

    with op.batch_alter_table('invoice_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_lines_invoice_id'))
    op.drop_table('invoice_lines')
