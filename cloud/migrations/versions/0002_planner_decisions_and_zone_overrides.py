"""Planner decisions (inputs, rule, explanation, command ids) and agronomists' zone overrides.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:15:21.131091
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('decisions',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('zone_id', sa.String(length=32), nullable=False),
    sa.Column('ts_ms', sa.BigInteger(), nullable=False),
    sa.Column('rule', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('inputs', sa.JSON(), nullable=False),
    sa.Column('explanation', sa.String(length=2000), nullable=False),
    sa.Column('command_ids', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=80), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_decisions_zone_id'), ['zone_id'], unique=False)

    op.create_table('zone_overrides',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('zone_id', sa.String(length=32), nullable=False),
    sa.Column('ts_ms', sa.BigInteger(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('until_ms', sa.BigInteger(), nullable=True),
    sa.Column('amount_mm', sa.Float(), nullable=True),
    sa.Column('reason', sa.String(length=400), nullable=False),
    sa.Column('by', sa.String(length=80), nullable=False),
    sa.Column('used_by_decision', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('zone_overrides', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zone_overrides_zone_id'), ['zone_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('zone_overrides', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zone_overrides_zone_id'))

    op.drop_table('zone_overrides')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_decisions_zone_id'))

    op.drop_table('decisions')
