"""The migrations build exactly the schema the models declare, on SQLite and on PostgreSQL.

A model changed without a migration (or a migration that drifted from the models) would work in
tests built from the models and fail, or silently lack an index or a constraint, in production.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import register_models  # noqa: F401  (its tables join Base.metadata)
from engine.models import Base


def test_the_migrated_schema_is_the_models_schema(engine):
    with engine.db.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
