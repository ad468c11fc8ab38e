"""insights: what the support targets were and when they were missed; the status history
read per object in time order and per period; the objects by when they were born

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('opened_priority', sa.String(length=16), nullable=True))
        for name in ('first_response_breached_at', 'resolution_breached_at'):
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE tickets SET opened_priority = priority")
    op.create_index('ix_status_changes_timeline', 'status_changes',
                    ['object_type', 'object_id', 'changed_at'])
    op.drop_index('ix_status_changes_object', table_name='status_changes')
    op.create_index('ix_status_changes_period', 'status_changes', ['object_type', 'changed_at'])
    for table in ('leads', 'quotes', 'tickets'):
        op.create_index(f'ix_{table}_created_at', table, ['created_at'])
    op.create_index('ix_invoices_issued_on', 'invoices', ['issued_on'])


def downgrade() -> None:
    op.drop_index('ix_invoices_issued_on', table_name='invoices')
    for table in ('leads', 'quotes', 'tickets'):
        op.drop_index(f'ix_{table}_created_at', table_name=table)
    op.drop_index('ix_status_changes_period', table_name='status_changes')
    op.create_index('ix_status_changes_object', 'status_changes', ['object_type', 'object_id'])
    op.drop_index('ix_status_changes_timeline', table_name='status_changes')
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('resolution_breached_at')
        batch.drop_column('first_response_breached_at')
        batch.drop_column('opened_priority')
