"""Alembic environment: run migrations on the engine's own database connection."""

from alembic import context

from engine import register_models  # noqa: F401  (its tables join Base.metadata)
from engine.models import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    db = context.config.attributes.get("connection_engine")
    if db is None:
        from engine.db import make_db

        db = make_db(context.config.get_main_option("sqlalchemy.url"))
    with db.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
