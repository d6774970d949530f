"""Field operations (issue 20): machines working fields along tracks, with their worked area; and PostGIS,
where the PostgreSQL server has it, for the boundary checks (cloud/fields/spatial.py).

Revision ID: 0015
Revises: 0013
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0013'
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)


def _create_postgis() -> None:
    """CREATE EXTENSION postgis where the server has it installed and the role may: without it the
    service does the same checks with shapely (spatial.py says which, at start)."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if bind.execute(sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first() is None:
        log.warning("PostGIS is not installed on this PostgreSQL server: boundary checks stay in the service")
        return
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except sa.exc.DBAPIError as e:  # a role that may not create extensions: a superuser can, later
        log.warning("could not create the PostGIS extension (%s): boundary checks stay in the service",
                    str(e).splitlines()[0])


def upgrade() -> None:
    op.create_table(
        'field_operations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('field_id', sa.String(length=32), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('machine', sa.String(length=64), nullable=False),
        sa.Column('implement', sa.String(length=64), nullable=False),
        sa.Column('width_m', sa.Float(), nullable=False),
        sa.Column('operator', sa.String(length=80), nullable=True),
        sa.Column('product', sa.String(length=120), nullable=True),
        sa.Column('rate', sa.Float(), nullable=True),
        sa.Column('rate_unit', sa.String(length=16), nullable=True),
        sa.Column('started_ms', sa.BigInteger(), nullable=False),
        sa.Column('ended_ms', sa.BigInteger(), nullable=False),
        sa.Column('fixes', sa.Integer(), nullable=False),
        sa.Column('covered_ha', sa.Float(), nullable=False),
        sa.Column('gross_ha', sa.Float(), nullable=False),
        sa.Column('overlap_ha', sa.Float(), nullable=False),
        sa.Column('skipped_ha', sa.Float(), nullable=False),
        sa.Column('field_ha', sa.Float(), nullable=False),
        sa.Column('work_s', sa.Float(), nullable=False),
        sa.Column('work_distance_m', sa.Float(), nullable=False),
        sa.Column('covered', sa.JSON(), nullable=False),
        sa.Column('track', sa.JSON(), nullable=False),
        sa.Column('ref', sa.String(length=80), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['field_id'], ['fields.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    op.create_index('ix_field_operations_field_kind', 'field_operations', ['field_id', 'kind', 'started_ms'])
    _create_postgis()


def downgrade() -> None:
    # The PostGIS extension stays: other databases' objects may use it, and dropping it is the DBA's call.
    op.drop_index('ix_field_operations_field_kind', table_name='field_operations')
    op.drop_table('field_operations')
