"""Yield potentials (issue 20): a farm's or a zone's own Ky and Ym per crop for the FAO-33 expected yield.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'yield_potentials',
        sa.Column('site_id', sa.String(length=32), nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('crop', sa.String(length=64), nullable=False),
        sa.Column('ky', sa.Float(), nullable=True),
        sa.Column('ym_t_ha', sa.Float(), nullable=True),
        sa.Column('source', sa.String(length=300), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('site_id', 'zone_id', 'crop'),
    )


def downgrade() -> None:
    op.drop_table('yield_potentials')
