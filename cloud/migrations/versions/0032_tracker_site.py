"""A tracker's site (issue 20): a node in no zone (a machine's GNSS tracker) is registered with its site, which
gives its broker login and topics as a zone gives every other node's. Nodes registered before have none (null).

Revision ID: 0032
Revises: 0031
"""

import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite the column is added in place, without the foreign key (adding one would copy the nodes table, which
    # valves and machines refer to); the registry checks the site exists and refuses to delete a site a node names.
    op.add_column('nodes', sa.Column('site_id', sa.String(length=32), nullable=True))
    if op.get_bind().dialect.name != 'sqlite':
        op.create_foreign_key('fk_nodes_site_id', 'nodes', 'sites', ['site_id'], ['id'])
    op.create_index('ix_nodes_site_id', 'nodes', ['site_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_nodes_site_id', table_name='nodes')
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_nodes_site_id', 'nodes', type_='foreignkey')
    with op.batch_alter_table('nodes') as batch:
        batch.drop_column('site_id')
