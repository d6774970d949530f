"""Fertigation (issue 19): a fertigate command's dose, window and injected volume, and what it applies.

Revision ID: 0016
Revises: 0015 (field operations landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('commands') as batch:
        batch.add_column(sa.Column('inject_ml', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('inject_from_s', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('inject_until_s', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('injected_ml', sa.Integer(), nullable=True))
    op.create_table(
        'fertigations',
        sa.Column('command_id', sa.String(length=64), nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('product_id', sa.String(length=32), nullable=False),
        sa.Column('dose_kg_ha', sa.Float(), nullable=False),
        sa.Column('area_ha', sa.Float(), nullable=False),
        sa.Column('stock_kg_per_l', sa.Float(), nullable=False),
        sa.Column('inject_ml', sa.Integer(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('command_id'),
    )
    op.create_index('ix_fertigations_zone_id', 'fertigations', ['zone_id'])


def downgrade() -> None:
    op.drop_index('ix_fertigations_zone_id', table_name='fertigations')
    op.drop_table('fertigations')
    with op.batch_alter_table('commands') as batch:
        for name in ('injected_ml', 'inject_until_s', 'inject_from_s', 'inject_ml'):
            batch.drop_column(name)
