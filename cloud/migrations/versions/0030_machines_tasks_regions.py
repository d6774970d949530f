"""Machines, implements, dispatch tasks and regions of the farm in the registry (issue 20): what dispatch plans
with, registered, audited and scoped to an organisation like nodes.

Revision ID: 0030
Revises: 0029
"""

import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None


def _org() -> sa.Column:
    return sa.Column('organisation_id', sa.String(length=32), nullable=False, server_default='default')


def upgrade() -> None:
    op.create_table(
        'implements',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('width_m', sa.Float(), nullable=False),
        sa.Column('operations', sa.JSON(), nullable=False),
        _org(),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'machines',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('width_m', sa.Float(), nullable=False),
        sa.Column('speed_kmh', sa.Float(), nullable=False),
        sa.Column('road_kmh', sa.Float(), nullable=False),
        sa.Column('efficiency', sa.Float(), nullable=False),
        sa.Column('fuel', sa.String(length=16), nullable=False),
        sa.Column('fuel_tank_l', sa.Float(), nullable=True),
        sa.Column('node_id', sa.String(length=32), sa.ForeignKey('nodes.id'), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('implement_ids', sa.JSON(), nullable=False),
        sa.Column('operator', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        _org(),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'dispatch_tasks',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('field_id', sa.String(length=32), sa.ForeignKey('fields.id'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('implement_id', sa.String(length=32), sa.ForeignKey('implements.id'), nullable=False),
        sa.Column('deadline_ms', sa.BigInteger(), nullable=True),
        sa.Column('priority', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reported_pct', sa.Float(), nullable=True),
        sa.Column('note', sa.String(length=400), nullable=True),
        sa.Column('reported_by', sa.String(length=80), nullable=True),
        sa.Column('reported_ms', sa.BigInteger(), nullable=True),
        _org(),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_table(
        'farm_regions',
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('field_ids', sa.JSON(), nullable=False),
        _org(),
        sa.PrimaryKeyConstraint('id'),
    )
    for table, column in (('implements', 'organisation_id'), ('machines', 'organisation_id'),
                          ('machines', 'node_id'), ('machines', 'operator'), ('dispatch_tasks', 'organisation_id'),
                          ('dispatch_tasks', 'field_id'), ('dispatch_tasks', 'implement_id'),
                          ('farm_regions', 'organisation_id')):
        op.create_index(f'ix_{table}_{column}', table, [column])


def downgrade() -> None:
    for table in ('farm_regions', 'dispatch_tasks', 'machines', 'implements'):
        op.drop_table(table)
