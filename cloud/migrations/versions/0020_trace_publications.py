"""Published harvest lots (issue 21): which part of a lot's trace its public page (the report's QR code) shows,
under an unguessable token; withdrawn ones keep their row with ``withdrawn_ms`` set.

Revision ID: 0020
Revises: 0019 (injectors landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'trace_publications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('lot_id', sa.String(length=64), nullable=False),
        sa.Column('token', sa.String(length=64), nullable=True),
        sa.Column('items', sa.JSON(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('published_ms', sa.BigInteger(), nullable=False),
        sa.Column('withdrawn_ms', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token'),
    )
    op.create_index('ix_trace_publications_lot', 'trace_publications', ['lot_id'])


def downgrade() -> None:
    op.drop_index('ix_trace_publications_lot', table_name='trace_publications')
    op.drop_table('trace_publications')
