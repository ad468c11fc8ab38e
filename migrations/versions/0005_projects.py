"""sale to project: project templates; milestones' order, shares and completer; projects'
template and hourly cost; sales' product line, their invoicing left to the policy

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('project_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('product_line', sa.String(length=100), nullable=True),
    sa.Column('plan', sa.JSON(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_project_templates')),
    sa.UniqueConstraint('name', name=op.f('uq_project_templates_name')),
    sa.UniqueConstraint('product_line', name=op.f('uq_project_templates_product_line'))
    )
    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('position', sa.Integer(), nullable=False,
                                      server_default='0'))
        batch_op.add_column(sa.Column('billable_pct', sa.Numeric(precision=5, scale=2),
                                      nullable=True))
        batch_op.add_column(sa.Column('completed_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_milestones_completed_by_id_users'), 'users',
                                    ['completed_by_id'], ['id'])

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('template', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('hourly_cost', sa.Numeric(precision=12, scale=2),
                                      nullable=False, server_default='0'))

    with op.batch_alter_table('timesheets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recorded_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_timesheets_recorded_by_id_users'), 'users',
                                    ['recorded_by_id'], ['id'])

    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.add_column(sa.Column('product_line', sa.String(length=100), nullable=True))
        batch_op.alter_column('invoicing_policy', existing_type=sa.String(length=20),
                              nullable=True)
    # 'milestones' was the column's default, never a choice: such sales follow the policy.
    op.execute("UPDATE sales SET invoicing_policy = NULL WHERE invoicing_policy = 'milestones'")
    op.execute("UPDATE projects SET invoicing_policy = 'on_milestone' "
               "WHERE invoicing_policy = 'milestones'")


def downgrade() -> None:
    op.execute("UPDATE projects SET invoicing_policy = 'milestones' "
               "WHERE invoicing_policy = 'on_milestone'")
    op.execute("UPDATE sales SET invoicing_policy = 'milestones' WHERE invoicing_policy IS NULL "
               "OR invoicing_policy = 'on_milestone'")
    with op.batch_alter_table('sales', schema=None) as batch_op:
        batch_op.alter_column('invoicing_policy', existing_type=sa.String(length=20),
                              nullable=False)
        batch_op.drop_column('product_line')

    with op.batch_alter_table('timesheets', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_timesheets_recorded_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('recorded_by_id')

    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_column('hourly_cost')
        batch_op.drop_column('template')

    with op.batch_alter_table('milestones', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_milestones_completed_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('completed_by_id')
        batch_op.drop_column('billable_pct')
        batch_op.drop_column('position')

    op.drop_table('project_templates')
