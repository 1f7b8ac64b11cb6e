"""on PostgreSQL, a worker is woken only by work in its own schema

Revision ID: 0008
Revises: 0007

NOTIFY channels belong to the whole PostgreSQL database, not to a schema. Several councils (or
test runs) kept in schemas of one database all woke each other's workers through the channel
`qaflow_worker` (migration 0005). The notification now carries the schema of the table whose
row set it off, and a worker listens for its own (engine/worker.py); an empty payload, as sent
before this migration, still wakes every worker.
"""
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

CHANNEL = 'qaflow_worker'


def _wake_with(payload: str) -> None:
    op.execute(f"""
        CREATE OR REPLACE FUNCTION qaflow_wake_worker() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', {payload});
            RETURN NULL;
        END $$""")


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _wake_with('TG_TABLE_SCHEMA')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        _wake_with("''")
