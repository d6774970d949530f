"""Open datasets (issue 21): a region's suppressed table for a season, published by a regional user as CSV and
Parquet (the files themselves, served at /open-data/{id}/), with who approved it and when.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'open_datasets',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('min_farms', sa.Integer(), nullable=False),
        sa.Column('title', sa.String(length=200), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('issued_ms', sa.BigInteger(), nullable=False),
        sa.Column('rows', sa.Integer(), nullable=False),
        sa.Column('csv', sa.LargeBinary(), nullable=False),
        sa.Column('parquet', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_open_datasets_issued_ms', 'open_datasets', ['issued_ms'])


def downgrade() -> None:
    op.drop_index('ix_open_datasets_issued_ms', table_name='open_datasets')
    op.drop_table('open_datasets')
