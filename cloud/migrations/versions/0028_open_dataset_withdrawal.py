"""Open datasets can be withdrawn (issue 21): when, by whom and why; the files are emptied and the id answers 410.

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('open_datasets', sa.Column('withdrawn_ms', sa.BigInteger(), nullable=True))
    op.add_column('open_datasets', sa.Column('withdrawn_by', sa.String(length=80), nullable=True))
    op.add_column('open_datasets', sa.Column('withdrawn_reason', sa.String(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('open_datasets') as batch:
        batch.drop_column('withdrawn_reason')
        batch.drop_column('withdrawn_by')
        batch.drop_column('withdrawn_ms')
