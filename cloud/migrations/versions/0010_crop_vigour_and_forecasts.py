"""Crop vigour and forecasts (issue 17): field and zone boundaries (GeoJSON Polygon and geodesic
area), measured canopy cover per zone, vegetation index statistics per zone and raster, and the
weather forecasts decisions used.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('fields', 'zones'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('boundary', sa.JSON(), nullable=True))
            batch_op.add_column(sa.Column('boundary_area_ha', sa.Float(), nullable=True))
    op.create_table(
        'canopy_cover',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('ts_ms', sa.BigInteger(), nullable=False),
        sa.Column('cover_pct', sa.Float(), nullable=False),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('ref', sa.String(length=200), nullable=False),
        sa.Column('node', sa.String(length=32), nullable=True),
        sa.Column('pixels', sa.BigInteger(), nullable=True),
        sa.Column('method', sa.String(length=40), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('zone_id', 'ref', name='uq_canopy_cover_ref'),
    )
    op.create_index('ix_canopy_cover_zone_ts', 'canopy_cover', ['zone_id', 'ts_ms'], unique=False)
    op.create_table(
        'vegetation_index',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('ts_ms', sa.BigInteger(), nullable=False),
        sa.Column('index_name', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=24), nullable=False),
        sa.Column('ref', sa.String(length=200), nullable=False),
        sa.Column('mean', sa.Float(), nullable=True),
        sa.Column('p10', sa.Float(), nullable=True),
        sa.Column('p25', sa.Float(), nullable=True),
        sa.Column('p50', sa.Float(), nullable=True),
        sa.Column('p75', sa.Float(), nullable=True),
        sa.Column('p90', sa.Float(), nullable=True),
        sa.Column('pixels', sa.BigInteger(), nullable=False),
        sa.Column('valid_share', sa.Float(), nullable=False),
        sa.Column('map_png', sa.LargeBinary(), nullable=True),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('zone_id', 'index_name', 'ref', name='uq_vegetation_index_ref'),
    )
    op.create_index('ix_vegetation_index_zone_ts', 'vegetation_index', ['zone_id', 'ts_ms'], unique=False)
    op.create_table(
        'forecasts',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('site_id', sa.String(length=32), nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=True),
        sa.Column('provider', sa.String(length=40), nullable=False),
        sa.Column('fetched_ms', sa.BigInteger(), nullable=False),
        sa.Column('issued_ms', sa.BigInteger(), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('days', sa.JSON(), nullable=False),
        sa.Column('request', sa.String(length=600), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_forecasts_site_fetched', 'forecasts', ['site_id', 'fetched_ms'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_forecasts_site_fetched', table_name='forecasts')
    op.drop_table('forecasts')
    op.drop_index('ix_vegetation_index_zone_ts', table_name='vegetation_index')
    op.drop_table('vegetation_index')
    op.drop_index('ix_canopy_cover_zone_ts', table_name='canopy_cover')
    op.drop_table('canopy_cover')
    for table in ('zones', 'fields'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('boundary_area_ha')
            batch_op.drop_column('boundary')
