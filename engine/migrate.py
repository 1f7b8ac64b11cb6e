"""Apply the Alembic migrations that define the schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine as SqlEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def config(db: SqlEngine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option(
        "sqlalchemy.url", db.url.render_as_string(hide_password=False).replace("%", "%%"))
    cfg.attributes["connection_engine"] = db
    return cfg


def upgrade(db: SqlEngine, revision: str = "head") -> None:
    command.upgrade(config(db), revision)


def drop_column_in_place(table: str, column: str, revision: str) -> None:
    """Drop a column inside a migration. On SQLite 3.35 or later in place (ALTER TABLE ... DROP
    COLUMN), never by rebuilding the table: other tables refer to `instance`, and rebuilding it
    would delete and re-insert its rows under their foreign keys (and cascade to the tables that
    hang from it). On an older SQLite an empty database is rebuilt table by table (nothing to
    lose) and one holding audits is refused untouched; PostgreSQL drops it as usual."""
    from alembic import op

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        version = bind.exec_driver_sql("SELECT sqlite_version()").scalar_one()
        if tuple(int(part) for part in version.split(".")[:2]) >= (3, 35):
            op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
            return
        if bind.exec_driver_sql("SELECT count(*) FROM instance").scalar_one():
            raise RuntimeError(
                f"Migration {revision} needs SQLite 3.35 or later to drop a column in place from "
                f"a database that holds audits; this Python's SQLite is {version}. Nothing was "
                "changed.")
    with op.batch_alter_table(table) as batch:
        batch.drop_column(column)
