"""Initial schema: node routes with health, commands and their events, users and tokens,
and the farm registry (sites, fields, zones, nodes, valves).

Revision ID: 0001
Revises:
Create Date: 2026-11-22 00:02:52.604250
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('commands',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('valve', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('duration_s', sa.Integer(), nullable=True),
    sa.Column('max_runtime_s', sa.Integer(), nullable=False),
    sa.Column('not_before_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('updated_ms', sa.BigInteger(), nullable=False),
    sa.Column('runtime_s', sa.Integer(), nullable=True),
    sa.Column('volume_l', sa.Float(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('zone', sa.String(length=32), nullable=True),
    sa.Column('amount_mm', sa.Float(), nullable=True),
    sa.Column('amount_min', sa.Float(), nullable=True),
    sa.Column('origin', sa.String(length=80), nullable=False),
    sa.Column('request_reason', sa.String(length=400), nullable=True),
    sa.Column('idempotency_key', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commands_node'), ['node'], unique=False)
        batch_op.create_index(batch_op.f('ix_commands_state'), ['state'], unique=False)
        batch_op.create_index(batch_op.f('ix_commands_zone'), ['zone'], unique=False)

    op.create_table('node_routes',
    sa.Column('node', sa.String(length=32), nullable=False),
    sa.Column('site', sa.String(length=32), nullable=False),
    sa.Column('gateway', sa.String(length=32), nullable=False),
    sa.Column('last_seen_ms', sa.BigInteger(), nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=True),
    sa.Column('fw', sa.String(length=16), nullable=True),
    sa.Column('bat_v', sa.Float(), nullable=True),
    sa.Column('rssi_dbm', sa.Integer(), nullable=True),
    sa.Column('faults', sa.String(length=400), nullable=True),
    sa.PrimaryKeyConstraint('node')
    )
    op.create_table('sites',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('api_tokens',
    sa.Column('id', sa.String(length=16), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_ms', sa.BigInteger(), nullable=False),
    sa.Column('expires_ms', sa.BigInteger(), nullable=False),
    sa.Column('revoked_ms', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('command_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('command_id', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ts_ms', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['command_id'], ['commands.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('command_id', 'state')
    )
    with op.batch_alter_table('command_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_command_events_command_id'), ['command_id'], unique=False)

    op.create_table('fields',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('area_ha', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fields_site_id'), ['site_id'], unique=False)

    op.create_table('zones',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('field_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('area_ha', sa.Float(), nullable=False),
    sa.Column('soil_texture', sa.String(length=32), nullable=False),
    sa.Column('field_capacity_pct', sa.Float(), nullable=False),
    sa.Column('wilting_point_pct', sa.Float(), nullable=False),
    sa.Column('root_depth_cm', sa.Float(), nullable=False),
    sa.Column('crop', sa.String(length=64), nullable=False),
    sa.Column('planting_date', sa.String(length=10), nullable=True),
    sa.Column('precip_rate_mm_h', sa.Float(), nullable=False),
    sa.Column('hydraulic_group', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['field_id'], ['fields.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_zones_field_id'), ['field_id'], unique=False)

    op.create_table('nodes',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('zone_id', sa.String(length=32), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lon', sa.Float(), nullable=True),
    sa.Column('depths_cm', sa.String(length=64), nullable=True),
    sa.Column('calibration', sa.String(length=2000), nullable=True),
    sa.Column('firmware', sa.String(length=16), nullable=True),
    sa.Column('credentials_ref', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nodes_zone_id'), ['zone_id'], unique=False)

    op.create_table('valves',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('node_id', sa.String(length=32), nullable=False),
    sa.Column('channel', sa.Integer(), nullable=False),
    sa.Column('zone_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], ),
    sa.ForeignKeyConstraint(['zone_id'], ['zones.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('node_id', 'channel')
    )
    with op.batch_alter_table('valves', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_valves_node_id'), ['node_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_valves_zone_id'), ['zone_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('valves', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_valves_zone_id'))
        batch_op.drop_index(batch_op.f('ix_valves_node_id'))

    op.drop_table('valves')
    with op.batch_alter_table('nodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nodes_zone_id'))

    op.drop_table('nodes')
    with op.batch_alter_table('zones', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_zones_field_id'))

    op.drop_table('zones')
    with op.batch_alter_table('fields', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fields_site_id'))

    op.drop_table('fields')
    with op.batch_alter_table('command_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_command_events_command_id'))

    op.drop_table('command_events')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    op.drop_table('users')
    op.drop_table('sites')
    op.drop_table('node_routes')
    with op.batch_alter_table('commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commands_zone'))
        batch_op.drop_index(batch_op.f('ix_commands_state'))
        batch_op.drop_index(batch_op.f('ix_commands_node'))

    op.drop_table('commands')
