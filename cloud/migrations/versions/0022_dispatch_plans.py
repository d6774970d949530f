"""Dispatch plans kept as the farm's current one (issue 20): the request (machines, tasks) and the plan, newest
first read by the dispatch page and the operators' job pages.

Revision ID: 0022
Revises: 0021 (the fertigation volume flag landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'dispatch_plans',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('planned_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('plan', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('dispatch_plans')
