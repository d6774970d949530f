"""Production records (issue 21): one hash chain of records per field and season, and its signed heads.

Both tables are append-only in the database itself: triggers refuse every UPDATE and DELETE (and, on
PostgreSQL, TRUNCATE), whoever asks. Someone who drops or disables the triggers can still change a row;
the hash chain and the signed heads are what then show it (``furrow trace verify``).

Revision ID: 0018
Revises: 0017 (live tracks landed first)
"""

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

TABLES = ('trace_records', 'trace_checkpoints')


def _append_only(table: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: a record is corrected by a new one'); END")
    elif bind.dialect.name == 'postgresql':
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   "FOR EACH ROW EXECUTE FUNCTION furrow_append_only()")
        op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION furrow_append_only()")


def upgrade() -> None:
    op.create_table(
        'trace_records',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('field_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('occurred_ms', sa.BigInteger(), nullable=False),
        sa.Column('zone_id', sa.String(length=32), nullable=True),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('corrects', sa.Integer(), nullable=True),
        sa.Column('source', sa.String(length=120), nullable=False),
        sa.Column('lot_id', sa.String(length=64), nullable=True),
        sa.Column('by', sa.String(length=80), nullable=False),
        sa.Column('recorded_ms', sa.BigInteger(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('field_id', 'season', 'seq', name='uq_trace_records_chain_seq'),
        sa.UniqueConstraint('source'),
        sa.UniqueConstraint('hash'),
    )
    op.create_index('ix_trace_records_lot', 'trace_records', ['lot_id'])
    op.create_table(
        'trace_checkpoints',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('field_id', sa.String(length=32), nullable=False),
        sa.Column('season', sa.String(length=32), nullable=False),
        sa.Column('seq', sa.Integer(), nullable=False),
        sa.Column('head_hash', sa.String(length=64), nullable=False),
        sa.Column('signed_ms', sa.BigInteger(), nullable=False),
        sa.Column('kid', sa.String(length=64), nullable=False),
        sa.Column('sig', sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_trace_checkpoints_chain', 'trace_checkpoints', ['field_id', 'season', 'seq'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE OR REPLACE FUNCTION furrow_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   "BEGIN RAISE EXCEPTION '% is append-only: a record is corrected by a new one', TG_TABLE_NAME; "
                   "END $$")
    for table in TABLES:
        _append_only(table)


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        if bind.dialect.name == 'sqlite':
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        elif bind.dialect.name == 'postgresql':
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    if bind.dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS furrow_append_only()")
    op.drop_index('ix_trace_checkpoints_chain', table_name='trace_checkpoints')
    op.drop_table('trace_checkpoints')
    op.drop_index('ix_trace_records_lot', table_name='trace_records')
    op.drop_table('trace_records')
