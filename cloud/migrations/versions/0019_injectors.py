"""Injector registry (issue 19): which controller has a fertigation injector, its calibrated pump rate and
its line-EC band; the fertigate route refuses a node without one and sizes the window at its rate.

Revision ID: 0019
Revises: 0018 (production records landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'injectors',
        sa.Column('node_id', sa.String(length=32), nullable=False),
        sa.Column('rate_l_h', sa.Float(), nullable=False),
        sa.Column('ec_low_ds_m', sa.Float(), nullable=True),
        sa.Column('ec_high_ds_m', sa.Float(), nullable=True),
        sa.Column('calibrated_on', sa.String(length=10), nullable=True),
        sa.Column('note', sa.String(length=300), nullable=True),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('node_id'),
    )


def downgrade() -> None:
    op.drop_table('injectors')
