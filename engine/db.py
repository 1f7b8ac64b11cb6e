"""Database connection: SQLite under instance/ by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine as SqlEngine
from sqlalchemy import create_engine, event

DEFAULT_SQLITE = Path("instance") / "qaflow.sqlite"


def database_url(url: str | None = None) -> str:
    """Return the URL to use: the argument, else DATABASE_URL, else the embedded SQLite file."""
    url = url or os.environ.get("DATABASE_URL")
    if not url:
        DEFAULT_SQLITE.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DEFAULT_SQLITE.resolve()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_db(url: str | None = None) -> SqlEngine:
    url = database_url(url)
    if url.startswith("sqlite"):
        db = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(db, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Let SQLAlchemy, not pysqlite, open transactions, so BEGIN IMMEDIATE works.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(db, "begin")
        def _sqlite_begin(conn):  # type: ignore[no-untyped-def]
            # One writer at a time, decided at BEGIN: no deadlock upgrading a read lock.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return db
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
