"""Live tracks (issue 20): the fixes trackers send through their gateways, once per (node, seq, index),
and the tracker an operation's live track came from.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'track_points',
        sa.Column('node', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('i', sa.Integer(), nullable=False),
        sa.Column('site', sa.String(length=32), nullable=False),
        sa.Column('gateway', sa.String(length=32), nullable=False),
        sa.Column('t_ms', sa.BigInteger(), nullable=False),
        sa.Column('lat_e7', sa.Integer(), nullable=False),
        sa.Column('lon_e7', sa.Integer(), nullable=False),
        sa.Column('speed_cms', sa.Integer(), nullable=False),
        sa.Column('course_d10', sa.Integer(), nullable=True),
        sa.Column('quality', sa.Integer(), nullable=True),
        sa.Column('sats', sa.Integer(), nullable=True),
        sa.Column('flags', sa.Integer(), nullable=False),
        sa.Column('rx_ms', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('node', 'seq', 'i'),
    )
    op.create_index('ix_track_points_node_t', 'track_points', ['node', 't_ms'])
    with op.batch_alter_table('field_operations') as batch:
        batch.add_column(sa.Column('node', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('field_operations') as batch:
        batch.drop_column('node')
    op.drop_index('ix_track_points_node_t', table_name='track_points')
    op.drop_table('track_points')
