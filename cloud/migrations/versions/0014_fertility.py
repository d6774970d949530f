"""Soil fertility (issue 19): soil samples, lab CSV mappings, a farm's crop coefficients, fertiliser
products, recommendations, applications (append-only) and harvests.

Revision ID: 0014
Revises: 0012 (pests' 0013 had not landed on main; whoever lands second chains after the other)
"""

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'soil_samples',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('sampled_on', sa.String(length=10), nullable=False),
        sa.Column('point', sa.String(length=40), nullable=True),
        sa.Column('lat', sa.Float(), nullable=True),
        sa.Column('lon', sa.Float(), nullable=True),
        sa.Column('depth_top_cm', sa.Float(), nullable=False),
        sa.Column('depth_bottom_cm', sa.Float(), nullable=False),
        sa.Column('lab', sa.String(length=64), nullable=False),
        sa.Column('lab_sample_id', sa.String(length=64), nullable=True),
        sa.Column('results', sa.JSON(), nullable=False),
        sa.Column('given', sa.JSON(), nullable=False),
        sa.Column('source', sa.String(length=200), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('created_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('zone_id', 'lab', 'lab_sample_id', name='uq_soil_samples_lab_id'),
    )
    op.create_index('ix_soil_samples_zone_season', 'soil_samples', ['zone_id', 'season'])
    op.create_table(
        'lab_mappings',
        sa.Column('lab', sa.String(length=64), nullable=False),
        sa.Column('mapping', sa.JSON(), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('lab'),
    )
    op.create_table(
        'fertility_coefficients',
        sa.Column('site_id', sa.String(length=32), nullable=False),
        sa.Column('crop', sa.String(length=64), nullable=False),
        sa.Column('overrides', sa.JSON(), nullable=False),
        sa.Column('updated_ms', sa.BigInteger(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('site_id', 'crop'),
    )
    op.create_table(
        'fertiliser_products',
        sa.Column('site_id', sa.String(length=32), nullable=False),
        sa.Column('id', sa.String(length=32), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.Column('n_pct', sa.Float(), nullable=False),
        sa.Column('p2o5_pct', sa.Float(), nullable=False),
        sa.Column('k2o_pct', sa.Float(), nullable=False),
        sa.Column('price_per_kg', sa.Float(), nullable=False),
        sa.Column('stock_kg_per_l', sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint('site_id', 'id'),
    )
    op.create_table(
        'fertiliser_recommendations',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('ts_ms', sa.BigInteger(), nullable=False),
        sa.Column('crop', sa.String(length=64), nullable=False),
        sa.Column('target_yield_kg_ha', sa.Float(), nullable=False),
        sa.Column('needs', sa.JSON(), nullable=False),
        sa.Column('applications', sa.JSON(), nullable=False),
        sa.Column('inputs', sa.JSON(), nullable=False),
        sa.Column('messages', sa.JSON(), nullable=False),
        sa.Column('explanation', sa.String(length=4000), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_fertiliser_recommendations_zone', 'fertiliser_recommendations', ['zone_id', 'season', 'ts_ms'])
    op.create_table(
        'fertiliser_applications',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('product_id', sa.String(length=32), nullable=False),
        sa.Column('product_name', sa.String(length=80), nullable=False),
        sa.Column('rate_kg_ha', sa.Float(), nullable=False),
        sa.Column('area_ha', sa.Float(), nullable=False),
        sa.Column('applied_on', sa.String(length=10), nullable=False),
        sa.Column('method', sa.String(length=16), nullable=False),
        sa.Column('nutrients_kg_ha', sa.JSON(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('recorded_ms', sa.BigInteger(), nullable=False),
        sa.Column('command_id', sa.String(length=64), nullable=True),
        sa.Column('note', sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('command_id'),
    )
    op.create_index('ix_fertiliser_applications_zone', 'fertiliser_applications', ['zone_id', 'season', 'applied_on'])
    op.create_table(
        'harvests',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('yield_kg_ha', sa.Float(), nullable=False),
        sa.Column('harvested_on', sa.String(length=10), nullable=False),
        sa.Column('residues_removed', sa.Boolean(), nullable=False),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('recorded_ms', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_harvests_zone_season', 'harvests', ['zone_id', 'season'])


def downgrade() -> None:
    for name, index in (('harvests', 'ix_harvests_zone_season'),
                        ('fertiliser_applications', 'ix_fertiliser_applications_zone'),
                        ('fertiliser_recommendations', 'ix_fertiliser_recommendations_zone'),
                        ('soil_samples', 'ix_soil_samples_zone_season')):
        op.drop_index(index, table_name=name)
    for name in ('harvests', 'fertiliser_applications', 'fertiliser_recommendations', 'fertiliser_products',
                 'fertility_coefficients', 'lab_mappings', 'soil_samples'):
        op.drop_table(name)
