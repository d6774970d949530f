"""Sites get a location: latitude and longitude (ET0 where no node is located) and elevation
(the atmospheric pressure of ET0, FAO-56 eq. 7, which took 0 m before). Null for sites entered
before.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lat', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('lon', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('elevation_m', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('elevation_m')
        batch_op.drop_column('lon')
        batch_op.drop_column('lat')
