"""instance_state and instance.state_delta: a step stores only what it changed

Most steps change a handful of a workflow's hundreds of tasks. The engine now stores those
changes (instance.state_delta) against the state as last stored whole, until they grow past a
quarter of it (engine/spiff.py state_to_save). The whole state moves to a table of its own:
SQLite rewrites a row whole when any column changes, so a whole state kept in the instance row
would be written again at every step with the row's version.

On SQLite the columns are added and dropped in place, never by rebuilding `instance`
(engine.migrate.drop_column_in_place says why).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from engine.migrate import drop_column_in_place

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_state",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instance_id"),
    )
    op.execute("INSERT INTO instance_state (instance_id, state) SELECT id, state FROM instance")
    op.add_column("instance", sa.Column("state_delta", sa.Text(), nullable=True))
    drop_column_in_place("instance", "state", revision)


def downgrade() -> None:
    from engine.spiff import stored_state_json

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
    drop_column_in_place("instance", "state_delta", revision)
    op.drop_table("instance_state")
