"""Organisations (issue 21): farms and cooperatives on one service, each with its own users and data, and
the regions a provincial platform aggregates over. Every existing site, node and user goes to the
organisation ``default`` (implicit: no row until it is named), so a single-farm install works as before.

Revision ID: 0024
Revises: 0023 (fertigation volume flag, dispatch plans and yield logs landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'organisations',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('region', sa.String(length=64), nullable=True),
        sa.Column('shares_regional', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    # 'default' has no row until its admin names it (PUT /organisation): a restore copies rows into a
    # migrated, empty installation, so a migration adds no rows.
    for table in ('sites', 'nodes', 'users', 'dispatch_plans'):
        op.add_column(table, sa.Column('organisation_id', sa.String(length=32), nullable=False,
                                       server_default='default'))
        op.create_index(f'ix_{table}_organisation_id', table, ['organisation_id'])
    # A regional user sees aggregates over this region's opted-in organisations (a code path, e.g. 65/6501/650102).
    op.add_column('users', sa.Column('region', sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column('users', 'region')
    for table in ('dispatch_plans', 'users', 'nodes', 'sites'):
        op.drop_index(f'ix_{table}_organisation_id', table_name=table)
        op.drop_column(table, 'organisation_id')
    op.drop_table('organisations')
