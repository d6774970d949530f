"""Alerts: raised, de-duplicated (one unresolved row per kind and subject), acknowledged, resolved.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=True),
    sa.Column('zone', sa.String(length=32), nullable=True),
    sa.Column('severity', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=400), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('first_ms', sa.BigInteger(), nullable=False),
    sa.Column('last_ms', sa.BigInteger(), nullable=False),
    sa.Column('resolved_ms', sa.BigInteger(), nullable=True),
    sa.Column('acknowledged_by', sa.String(length=80), nullable=True),
    sa.Column('acknowledged_ms', sa.BigInteger(), nullable=True),
    sa.Column('ack_note', sa.String(length=400), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_zone'), ['zone'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_last_ms'), ['last_ms'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_resolved_ms'), ['resolved_ms'], unique=False)
        # one unresolved alert per (kind, subject), even with several instances evaluating
        batch_op.create_index('uq_alerts_open', ['kind', 'subject'], unique=True,
                              sqlite_where=sa.text('resolved_ms IS NULL'),
                              postgresql_where=sa.text('resolved_ms IS NULL'))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('uq_alerts_open')
        batch_op.drop_index(batch_op.f('ix_alerts_resolved_ms'))
        batch_op.drop_index(batch_op.f('ix_alerts_last_ms'))
        batch_op.drop_index(batch_op.f('ix_alerts_zone'))

    op.drop_table('alerts')
