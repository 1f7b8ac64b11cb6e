"""instance_state and instance.state_delta: a step stores only what it changed

Most steps change a handful of a workflow's hundreds of tasks. The engine now stores those
changes (instance.state_delta) against the state as last stored whole, until they grow past a
quarter of it (engine/spiff.py state_to_save). The whole state moves to a table of its own:
SQLite rewrites a row whole when any column changes, so a whole state kept in the instance row
would be written again at every step with the row's version.

On SQLite the columns are added and dropped in place (ALTER TABLE ... DROP COLUMN, SQLite 3.35
or later), never by rebuilding `instance`: other tables refer to it, and rebuilding it would
delete and re-insert its rows under their foreign keys (and cascade to `instance_state`).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def _in_place() -> bool:
    """True on SQLite that can drop a column in place; on an older SQLite an empty database is
    rebuilt table by table (nothing to lose), one holding audits is refused untouched."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return False
    version = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
    if tuple(int(part) for part in version.split(".")[:2]) >= (3, 35):
        return True
    if bind.exec_driver_sql("SELECT count(*) FROM instance").scalar_one():
        raise RuntimeError(f"Migration 0007 needs SQLite 3.35 or later to drop a column in place "
                           f"from a database that holds audits; this Python's SQLite is "
                           f"{version}. Nothing was changed.")
    return False


def _drop_column(table: str, column: str, in_place: bool) -> None:
    if in_place:
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    else:  # PostgreSQL; or an empty database on an old SQLite, rebuilt
        with op.batch_alter_table(table) as batch:
            batch.drop_column(column)


def upgrade() -> None:
    in_place = _in_place()
    op.create_table(
        "instance_state",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.execute("INSERT INTO instance_state (instance_id, state) SELECT id, state FROM instance")
    op.add_column("instance", sa.Column("state_delta", sa.Text(), nullable=True))
    _drop_column("instance", "state", in_place)


def downgrade() -> None:
    from engine.spiff import stored_state_json

    in_place = _in_place()
    sqlite = op.get_bind().dialect.name == "sqlite"
    conn = op.get_bind()
    op.add_column("instance", sa.Column("state", sa.Text(), nullable=True))
    rows = conn.execute(sa.text(
        "SELECT i.id, s.state, i.state_delta FROM instance i "
        "JOIN instance_state s ON s.instance_id = i.id")).all()
    for row in rows:  # the changes folded into the whole state before their column goes
        conn.execute(sa.text("UPDATE instance SET state = :state WHERE id = :id"),
                     {"state": stored_state_json(row.state, row.state_delta), "id": row.id})
    if not sqlite:  # SQLite cannot add NOT NULL to a column in place; it stays nullable there
        op.alter_column("instance", "state", existing_type=sa.Text(), nullable=False)
    _drop_column("instance", "state_delta", in_place)
    op.drop_table("instance_state")
