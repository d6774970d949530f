"""Identity: node and gateway credentials, audit log (placeholder: filled in by the work that owns it; a no-op until then).

Revision ID: 0005
Revises: 0004
"""

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
