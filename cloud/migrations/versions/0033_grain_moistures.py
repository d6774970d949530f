"""An organisation's own standard moisture per crop (issue 20): the moisture its yield totals are given at, over
the built-in United States figures (machinery/grain.py), each with the source the farm gives for it.

Revision ID: 0033
Revises: 0032
"""

import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'grain_moistures',
        sa.Column('organisation_id', sa.String(length=32), nullable=False),
        sa.Column('crop', sa.String(length=64), nullable=False),
        sa.Column('pct', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=300), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('organisation_id', 'crop'),
    )


def downgrade() -> None:
    op.drop_table('grain_moistures')
