"""Gap reports: the readings a gateway did not forward (its quota, a node's flood budget, the
quarantine), one row per report, kept once under (site, gateway, report_id).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reading_gaps',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('site', sa.String(length=32), nullable=False),
        sa.Column('gateway', sa.String(length=32), nullable=False),
        sa.Column('report_id', sa.String(length=80), nullable=False),
        sa.Column('node', sa.String(length=32), nullable=True),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.Column('seqs', sa.JSON(), nullable=False),
        sa.Column('first_ms', sa.BigInteger(), nullable=False),
        sa.Column('last_ms', sa.BigInteger(), nullable=False),
        sa.Column('received_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('site', 'gateway', 'report_id', name='uq_reading_gaps_report'),
    )
    with op.batch_alter_table('reading_gaps', schema=None) as batch_op:
        batch_op.create_index('ix_reading_gaps_node_last', ['node', 'last_ms'], unique=False)
        batch_op.create_index(batch_op.f('ix_reading_gaps_received_ms'), ['received_ms'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reading_gaps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reading_gaps_received_ms'))
        batch_op.drop_index('ix_reading_gaps_node_last')
    op.drop_table('reading_gaps')
