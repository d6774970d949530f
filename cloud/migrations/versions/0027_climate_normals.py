"""Climate normals a site's agronomist imports (issue 18): the pest forecast's temperatures for the days
after the weather forecast, when the farm's own history is under ten years.

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'climate_normals',
        sa.Column('site_id', sa.String(length=32), nullable=False),
        sa.Column('source', sa.String(length=600), nullable=False),
        sa.Column('days', sa.JSON(), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('site_id'),
    )


def downgrade() -> None:
    op.drop_table('climate_normals')
