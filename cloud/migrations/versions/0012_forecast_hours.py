"""Stored forecasts keep the hours' rain and a stated rain window, so a decision that used them can
be replayed from what was stored.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hours', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('rain_window', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('forecasts', schema=None) as batch_op:
        batch_op.drop_column('rain_window')
        batch_op.drop_column('hours')
