"""A species carries several action thresholds, one per crop (issue 18): an agronomist's entries in
pest_species stored with the one-threshold `action` get it as a one-item `actions` list.

Downgrade keeps the first threshold of each entry as its `action` (the others are lost: the old form holds one).

Revision ID: 0031
Revises: 0030
"""

import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

_species = sa.table('pest_species', sa.column('key', sa.String), sa.column('data', sa.JSON))


def _rewrite(change) -> None:  # noqa: ANN001
    bind = op.get_bind()
    for key, data in bind.execute(sa.select(_species.c.key, _species.c.data)).all():
        new = change(dict(data or {}))
        if new is not None:
            bind.execute(_species.update().where(_species.c.key == key).values(data=new))


def _to_list(data: dict) -> dict | None:
    if 'action' not in data:
        return None
    one = data.pop('action')
    data['actions'] = None if one is None else [one]
    return data


def _to_one(data: dict) -> dict | None:
    if 'actions' not in data:
        return None
    several = data.pop('actions')
    data['action'] = several[0] if several else None
    return data


def upgrade() -> None:
    _rewrite(_to_list)


def downgrade() -> None:
    _rewrite(_to_one)
