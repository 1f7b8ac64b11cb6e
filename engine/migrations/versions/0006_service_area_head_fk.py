"""the foreign key from a service area to its Head of Service, on PostgreSQL too

0001 declared it with use_alter (service_area and person refer to each other), which Alembic's
create_table leaves out on PostgreSQL; SQLite keeps it inline. Found by the test comparing the
migrated schema with the models (tests/engine/test_schema_matches_models.py).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

NAME = "fk_service_area_head_id_person"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.create_foreign_key(NAME, "service_area", "person", ["head_id"], ["id"])


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "service_area", type_="foreignkey")
