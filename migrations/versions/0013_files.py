"""files: the files attached to quotes, projects, invoices and tickets (their content is in
the file store), the files an email carries, and the document a ticket waits for

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'files',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('object_type', sa.String(length=32), nullable=False),
        sa.Column('object_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=64), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('uploaded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['uploaded_by_id'], ['users.id'],
                                name=op.f('fk_files_uploaded_by_id_users')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_files')),
    )
    op.create_index('ix_files_object', 'files', ['object_type', 'object_id'])
    with op.batch_alter_table('email_outbox') as batch:
        batch.add_column(sa.Column('attachments', sa.JSON(), nullable=True))
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('awaited_document', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('tickets') as batch:
        batch.drop_column('awaited_document')
    with op.batch_alter_table('email_outbox') as batch:
        batch.drop_column('attachments')
    op.drop_index('ix_files_object', table_name='files')
    op.drop_table('files')
