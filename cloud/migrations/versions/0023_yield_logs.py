"""Yield monitor logs cleaned and totalled per field (issue 20, cloud/machinery/yield_map.py).

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'yield_logs',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('ref', sa.String(length=48), nullable=False),
        sa.Column('field_id', sa.String(length=32), nullable=False),
        sa.Column('crop', sa.String(length=64), nullable=True),
        sa.Column('machine', sa.String(length=64), nullable=False),
        sa.Column('width_m', sa.Float(), nullable=False),
        sa.Column('standard_moisture_pct', sa.Float(), nullable=False),
        sa.Column('started_ms', sa.BigInteger(), nullable=False),
        sa.Column('ended_ms', sa.BigInteger(), nullable=False),
        sa.Column('mass_kg', sa.Float(), nullable=False),
        sa.Column('harvested_ha', sa.Float(), nullable=False),
        sa.Column('mean_yield_t_ha', sa.Float(), nullable=False),
        sa.Column('mean_moisture_pct', sa.Float(), nullable=False),
        sa.Column('points', sa.Integer(), nullable=False),
        sa.Column('kept', sa.Integer(), nullable=False),
        sa.Column('dropped', sa.JSON(), nullable=False),
        sa.Column('yields', sa.JSON(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['field_id'], ['fields.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    op.create_index('ix_yield_logs_field', 'yield_logs', ['field_id', 'started_ms'])


def downgrade() -> None:
    op.drop_index('ix_yield_logs_field', table_name='yield_logs')
    op.drop_table('yield_logs')
