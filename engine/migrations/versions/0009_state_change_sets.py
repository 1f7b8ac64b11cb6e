"""instance_change: a step stores its own changes in a row of their own

Until now a step stored its changes against the state as last stored whole, in one column of
the instance row (instance.state_delta, migration 0007): each step wrote again every change
since the last whole state, so what a step wrote grew with the steps before it, and the whole
state was written again every few steps to bound it. Now each step inserts a row holding only
its own change set (engine/spiff.py state_to_save); the stored state is the whole state with
the change sets since applied in turn, and the whole state is stored again only once they
would pass its size. One walk of the deep-dive pathway (bench/pathway.py) stores 246 KB of
state instead of 413 KB.

An audit's stored changes move as they are: a change set against the whole state is the first
(and only) change set since it. Back down, each audit's change sets are folded into one.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from engine.migrate import drop_column_in_place

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_change",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["instance_id"], ["instance.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("instance_id", "version"),
    )
    op.execute("INSERT INTO instance_change (instance_id, version, changes) "
               "SELECT id, version, state_delta FROM instance WHERE state_delta IS NOT NULL")
    drop_column_in_place("instance", "state_delta", revision)


def downgrade() -> None:
    from engine.spiff import stored_state_json

    conn = op.get_bind()
    op.add_column("instance", sa.Column("state_delta", sa.Text(), nullable=True))
    chains: dict[int, list[str]] = {}
    for row in conn.execute(sa.text(
            "SELECT instance_id, changes FROM instance_change ORDER BY instance_id, version")):
        chains.setdefault(row.instance_id, []).append(row.changes)
    for instance_id, changes in chains.items():  # folded into the whole state, which is exact
        state = conn.execute(sa.text("SELECT state FROM instance_state WHERE instance_id = :id"),
                             {"id": instance_id}).scalar_one()
        conn.execute(sa.text("UPDATE instance_state SET state = :state WHERE instance_id = :id"),
                     {"state": stored_state_json(state, changes), "id": instance_id})
    op.drop_table("instance_change")
