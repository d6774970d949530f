"""Fertigation (issue 19): a flag on a fertigate command and its application when the volume the controller
reported is beyond the dose plus one tick of its pump, and the pump rate each fertigation was sized at.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands') as batch:
        batch.add_column(sa.Column('injected_flag', sa.String(length=200), nullable=True))
    with op.batch_alter_table('fertiliser_applications') as batch:
        batch.add_column(sa.Column('volume_flag', sa.String(length=200), nullable=True))
    with op.batch_alter_table('fertigations') as batch:
        batch.add_column(sa.Column('rate_l_h', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('fertigations') as batch:
        batch.drop_column('rate_l_h')
    with op.batch_alter_table('fertiliser_applications') as batch:
        batch.drop_column('volume_flag')
    with op.batch_alter_table('commands') as batch:
        batch.drop_column('injected_flag')
