"""your own workflows: definitions, versions, enrolments and their steps; a lead's country

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workflow_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('draft', sa.JSON(), nullable=True),
    sa.Column('draft_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('active_version', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'],
                            name=op.f('fk_workflow_definitions_created_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_definitions'))
    )
    op.create_index(op.f('ix_workflow_definitions_status'), 'workflow_definitions', ['status'])
    op.create_table('workflow_definition_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['definition_id'], ['workflow_definitions.id'],
        name=op.f('fk_workflow_definition_versions_definition_id_workflow_definitions')),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'],
                            name=op.f('fk_workflow_definition_versions_published_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workflow_definition_versions')),
    sa.UniqueConstraint('definition_id', 'version',
                        name=op.f('uq_workflow_definition_versions_definition_id'))
    )
    op.create_table('enrolments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('workflow_id', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('enrolled_by_id', sa.Integer(), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['workflow_definitions.id'],
                            name=op.f('fk_enrolments_definition_id_workflow_definitions')),
    sa.ForeignKeyConstraint(['enrolled_by_id'], ['users.id'],
                            name=op.f('fk_enrolments_enrolled_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolments'))
    )
    op.create_index('ix_enrolments_object', 'enrolments', ['object_type', 'object_id'])
    op.create_index('ix_enrolments_definition', 'enrolments', ['definition_id', 'version'])
    op.create_index(op.f('ix_enrolments_status'), 'enrolments', ['status'])
    op.create_table('enrolment_steps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('enrolment_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.String(length=40), nullable=False),
    sa.Column('visit', sa.Integer(), nullable=False),
    sa.Column('entered_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['enrolment_id'], ['enrolments.id'],
                            name=op.f('fk_enrolment_steps_enrolment_id_enrolments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_enrolment_steps')),
    sa.UniqueConstraint('enrolment_id', 'step', 'visit',
                        name=op.f('uq_enrolment_steps_enrolment_id'))
    )
    op.create_index(op.f('ix_enrolment_steps_enrolment_id'), 'enrolment_steps',
                    ['enrolment_id'])
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.add_column(sa.Column('country', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('leads', schema=None) as batch_op:
        batch_op.drop_column('country')
    op.drop_index(op.f('ix_enrolment_steps_enrolment_id'), table_name='enrolment_steps')
    op.drop_table('enrolment_steps')
    op.drop_index(op.f('ix_enrolments_status'), table_name='enrolments')
    op.drop_index('ix_enrolments_definition', table_name='enrolments')
    op.drop_index('ix_enrolments_object', table_name='enrolments')
    op.drop_table('enrolments')
    op.drop_table('workflow_definition_versions')
    op.drop_index(op.f('ix_workflow_definitions_status'), table_name='workflow_definitions')
    op.drop_table('workflow_definitions')
