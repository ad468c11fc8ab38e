"""status stays: each status change keeps when the object entered the status it leaves, so
a stay's length is read from one row instead of a window over the object's timeline; the
period index covers what a cycle time reads

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BORN_IN = {'lead': 'leads', 'quote': 'quotes', 'project': 'projects', 'invoice': 'invoices',
           'ticket': 'tickets', 'task': 'tasks'}
"""The table each object type's rows (and their created_at) are in."""
PERIOD_COVERS = ['object_type', 'changed_at', 'from_status', 'to_status', 'entered_at',
                 'object_id']
"""What changed in a period, with every column a cycle time reads: the index alone answers."""


def upgrade() -> None:
    with op.batch_alter_table('status_changes') as batch:
        batch.add_column(sa.Column('entered_at', sa.DateTime(timezone=True), nullable=True))
    # The latest earlier change of status (a change to the same status does not end a stay),
    # in the order the timeline index keeps: by time, then by id.
    op.execute("""
        UPDATE status_changes SET entered_at = stays.entered
        FROM (SELECT id, max(CASE WHEN from_status <> to_status THEN changed_at END)
                         OVER (PARTITION BY object_type, object_id ORDER BY changed_at, id
                               ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS entered
              FROM status_changes) AS stays
        WHERE stays.id = status_changes.id AND stays.entered IS NOT NULL""")
    # Else the object's creation.
    for object_type, table in BORN_IN.items():
        op.execute(f"""
            UPDATE status_changes SET entered_at =
                (SELECT created_at FROM {table} WHERE {table}.id = status_changes.object_id)
            WHERE object_type = '{object_type}' AND entered_at IS NULL""")
    # A change whose object is no longer there (the CRM deletes none, a hand could) has no
    # known beginning: a stay of nothing rather than a failed migration.
    op.execute("UPDATE status_changes SET entered_at = changed_at WHERE entered_at IS NULL")
    with op.batch_alter_table('status_changes') as batch:
        batch.alter_column('entered_at', existing_type=sa.DateTime(timezone=True),
                           nullable=False)
    op.drop_index('ix_status_changes_period', table_name='status_changes')
    op.create_index('ix_status_changes_period', 'status_changes', PERIOD_COVERS)


def downgrade() -> None:
    op.drop_index('ix_status_changes_period', table_name='status_changes')
    op.create_index('ix_status_changes_period', 'status_changes', PERIOD_COVERS[:2])
    with op.batch_alter_table('status_changes') as batch:
        batch.drop_column('entered_at')
