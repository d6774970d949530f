"""Planning: hydraulic groups, water budgets, valve max runtime, scheduled plans (placeholder: filled in by the work that owns it; a no-op until then).

Revision ID: 0004
Revises: 0003
"""

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
