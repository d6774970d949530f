"""Texts in the reader's language: alerts keep their message's catalogue key and values, decisions
their explanation as messages (key and values each), and users the dashboard language they chose.
Rows from before keep their English text and get null here.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_key', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('message_params', sa.JSON(), nullable=True))
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('messages', sa.JSON(), nullable=True))
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('locale')
    with op.batch_alter_table('decisions', schema=None) as batch_op:
        batch_op.drop_column('messages')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('message_params')
        batch_op.drop_column('message_key')
