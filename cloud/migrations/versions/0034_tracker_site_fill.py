"""Trackers registered before 0032 get their site where there is only one it can be (issue 20): a tracker (a
node of role tracker, in no zone) with no site, of an organisation that has exactly one site, is set to that
site. A tracker of an organisation with several sites (or none) is left without one: which farm it reports to
is the technician's to say (`furrow node add NODE --role tracker --site SITE --out DIR`); the cloud names each
such tracker at startup and in its commissioning checklist.

Revision ID: 0034
Revises: 0033
"""

import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None

NODES = sa.table('nodes', sa.column('id', sa.String), sa.column('role', sa.String), sa.column('zone_id', sa.String),
                 sa.column('site_id', sa.String), sa.column('organisation_id', sa.String))
SITES = sa.table('sites', sa.column('id', sa.String), sa.column('organisation_id', sa.String))


def upgrade() -> None:
    bind = op.get_bind()
    only = bind.execute(sa.select(SITES.c.organisation_id, sa.func.min(SITES.c.id))
                        .group_by(SITES.c.organisation_id).having(sa.func.count() == 1)).all()
    for organisation, site in only:
        bind.execute(NODES.update().where(NODES.c.role == 'tracker', NODES.c.zone_id.is_(None),
                                          NODES.c.site_id.is_(None), NODES.c.organisation_id == organisation)
                     .values(site_id=site))


def downgrade() -> None:
    # A site set here cannot be told from one set by hand since; 0032's downgrade drops the column anyway.
    pass
