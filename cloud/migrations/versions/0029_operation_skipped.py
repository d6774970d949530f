"""Skipped strips (issue 20): the shape of the strips an operation missed between its swaths, beside their area,
so the map can draw them. Operations recorded before have none (null).

Revision ID: 0029
Revises: 0028
"""

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('field_operations') as batch:
        batch.add_column(sa.Column('skipped', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('field_operations') as batch:
        batch.drop_column('skipped')
