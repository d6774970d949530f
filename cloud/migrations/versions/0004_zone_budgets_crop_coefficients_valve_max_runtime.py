"""Planning: zones get weekly and seasonal water budgets and their crop's FAO-56 coefficients;
valves get a maximum runtime the planner splits longer irrigations at.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('week_budget_mm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('season_budget_mm', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('crop_coefficients', sa.String(length=1000), nullable=True))
    with op.batch_alter_table('valves', schema=None) as batch_op:
        batch_op.add_column(sa.Column('max_runtime_s', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('valves', schema=None) as batch_op:
        batch_op.drop_column('max_runtime_s')
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.drop_column('crop_coefficients')
        batch_op.drop_column('season_budget_mm')
        batch_op.drop_column('week_budget_mm')
