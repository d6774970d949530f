"""Pests from trap photos (issue 18): traps with their card and lure, the counter's counts and people's
corrections of them, and the species table's entries an agronomist made.

Revision ID: 0013
Revises: 0014 (fertility landed first; the number stays, the chain follows main)
"""

import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'traps',
        sa.Column('node', sa.String(length=32), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('card', sa.String(length=24), nullable=False),
        sa.Column('lure', sa.String(length=48), nullable=True),
        sa.Column('view_width_mm', sa.Float(), nullable=True),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('node', 'channel'),
    )
    op.create_table(
        'trap_counts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('node', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.Integer(), nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=True),
        sa.Column('ts_ms', sa.BigInteger(), nullable=False),
        sa.Column('species', sa.String(length=48), nullable=True),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('target', sa.Integer(), nullable=False),
        sa.Column('by_class', sa.JSON(), nullable=False),
        sa.Column('objects', sa.JSON(), nullable=False),
        sa.Column('method', sa.String(length=200), nullable=False),
        sa.Column('px_per_mm', sa.Float(), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.Column('reviewed_total', sa.Integer(), nullable=True),
        sa.Column('reviewed_target', sa.Integer(), nullable=True),
        sa.Column('reviewed_by', sa.String(length=80), nullable=True),
        sa.Column('reviewed_ms', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('node', 'seq', name='uq_trap_counts_image'),
    )
    with op.batch_alter_table('trap_counts', schema=None) as batch_op:
        batch_op.create_index('ix_trap_counts_zone_ts', ['zone_id', 'ts_ms'], unique=False)
        batch_op.create_index('ix_trap_counts_node_ts', ['node', 'ts_ms'], unique=False)
    op.create_table(
        'trap_reviews',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('count_id', sa.Integer(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('at_ms', sa.BigInteger(), nullable=False),
        sa.Column('total_before', sa.Integer(), nullable=False),
        sa.Column('target_before', sa.Integer(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('target', sa.Integer(), nullable=False),
        sa.Column('note', sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(['count_id'], ['trap_counts.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('trap_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trap_reviews_count_id'), ['count_id'], unique=False)
    op.create_table(
        'pest_species',
        sa.Column('key', sa.String(length=48), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )


def downgrade() -> None:
    op.drop_table('pest_species')
    with op.batch_alter_table('trap_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trap_reviews_count_id'))
    op.drop_table('trap_reviews')
    with op.batch_alter_table('trap_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_trap_counts_node_ts')
        batch_op.drop_index('ix_trap_counts_zone_ts')
    op.drop_table('trap_counts')
    op.drop_table('traps')
