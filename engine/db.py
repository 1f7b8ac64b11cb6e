"""Database connection: SQLite under instance/ by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, create_engine, event
from sqlalchemy import Engine as SqlEngine
from sqlalchemy.orm import Session, SessionTransaction

DEFAULT_SQLITE = Path("instance") / "qaflow.sqlite"
# Set on every SQLite connection. Checkpoints run on the checkpointer's thread (below), not
# inside a user's commit: hence no automatic ones.
SQLITE_PRAGMAS = ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL",
                  "busy_timeout=30000", "wal_autocheckpoint=0")


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
            for pragma in SQLITE_PRAGMAS:
                cur.execute(f"PRAGMA {pragma}")
            cur.close()

        path = db.url.database
        checkpointer = checkpointer_for(path) if path and path != ":memory:" else None
        _begin_and_commit(db.dialect, checkpointer)
        if checkpointer is not None:
            # Disposed (a test's or a bench's database about to be removed): no checkpoint may
            # start on the file after this, nor be under way.
            event.listen(db, "engine_disposed", lambda _engine: checkpointer.stop())
        # Any connection listener marks the engine (a private flag of SQLAlchemy's), and every
        # statement, begin and commit of a marked engine's connections then asks each kind of
        # listener whether there is one, and `prepared` must ask too (measured: 1.5 ms of a
        # 34 ms deep-dive pathway walk). The one listener above is for the engine's disposal,
        # which SQLAlchemy calls whether the engine is marked or not: the mark is taken off.
        # A listener added later (statement logging, a test counting statements) marks it again.
        db._has_events = False
        return db
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


_READ_ONLY = "qaflow_read_only"
_CONNECTION = "qaflow_connection"


class UseCase(Protocol):
    """What the engine's use cases ask of their transaction: a place for what waits for the commit
    (`info`) and the connection. A Session is one; so is a use case run on a Core connection."""

    @property
    def info(self) -> dict[Any, Any]: ...

    def connection(self) -> Connection: ...


def connection_of(s: UseCase) -> Connection:
    """The connection of the session's transaction, kept in its info until the transaction ends:
    Session.connection() does about ten microseconds of bookkeeping at every call, and a task's
    completion asks for it four times."""
    conn: Connection | None = s.info.get(_CONNECTION)
    if conn is None:
        conn = s.info[_CONNECTION] = s.connection()
    return conn


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(s: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost: its connection has gone back to the pool
        s.info.pop(_CONNECTION, None)


def begin_statement(conn: Connection) -> str:
    """How a transaction begins on SQLite. One writer at a time, decided at BEGIN: no deadlock
    upgrading a read lock. A connection opened by `reading` never writes: it begins deferred,
    takes no lock and reads its snapshot of the log however long a writer holds the database."""
    return _begin_statement(conn.connection)


def _begin_statement(dbapi_connection: Any) -> str:
    return "BEGIN" if _reads_only(dbapi_connection) else "BEGIN IMMEDIATE"


def _reads_only(dbapi_connection: Any) -> bool:
    """Whether the pool's proxy of a driver connection was checked out by `reading`."""
    return bool(getattr(dbapi_connection, _READ_ONLY, False))


def _begin_and_commit(dialect: Any, checkpointer: Checkpointer | None) -> None:
    """Begin and commit on the engine's SQLite connections, as its dialect's own steps.

    BEGIN goes to the driver itself (pysqlite, left in autocommit, would send none): SQLAlchemy's
    path for a statement costs more than SQLite takes to begin (measured: a use case 20 us, a
    read 11 us faster this way); a driver error is raised by SQLAlchemy as its own (a database
    still locked: OperationalError, which the outbox retries). Statement listeners do not see it:
    one that wants it listens for "begin" and asks `begin_statement`. A commit tells the
    checkpointer, once it has committed, unless it ended a read (a reading connection writes
    nothing: the worker's look at what is due would otherwise start a checkpoint each time)."""
    commit = dialect.do_commit

    def do_begin(dbapi_connection: Any) -> None:
        dbapi_connection.driver_connection.execute(_begin_statement(dbapi_connection))

    def do_commit(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        if checkpointer is not None and not _reads_only(dbapi_connection):
            checkpointer.nudge()

    dialect.do_begin = do_begin
    dialect.do_commit = do_commit


def reading(db: SqlEngine) -> Connection:
    """A connection for reads only (task lists, a task's page, the worker's look at what is
    due): on SQLite it waits for no writer. Nothing may be written on it.

    The mark is on the pool's proxy of the driver's connection, which the pool makes afresh at
    each checkout: it goes back with it, and no other use of the connection ever sees it."""
    conn = db.connect()
    setattr(conn.connection, _READ_ONLY, True)
    return conn


_CHECKPOINTERS: dict[str, Checkpointer] = {}


def checkpointer_for(path: str) -> Checkpointer:
    """The process's one checkpointer for a database file, shared by every engine opened on it."""
    key = str(Path(path).resolve())
    return _CHECKPOINTERS.setdefault(key, Checkpointer(key))


class Checkpointer:
    """Copies SQLite's write-ahead log back into the database on a thread of its own.

    SQLite's automatic checkpoint runs inside whichever commit crosses 1,000 log pages, so one
    user's click in every few dozen waits for the copy and its fsync (measured here: a commit
    takes about 0.25 ms, one that checkpoints 10 ms or more). SQLite's documentation suggests the
    alternative used here: switch it off on our connections and checkpoint from a separate
    thread. After a commit the thread waits `delay` seconds for more to gather, then runs a
    PASSIVE checkpoint, which never blocks readers or writers; what a reader still needs is
    copied next time. The log file is truncated back to `keep_bytes` once it has been copied.
    The thread ends after `idle` seconds without a commit, or when the engine is disposed; the
    next commit starts another.
    """

    def __init__(self, path: str, delay: float = 0.2, keep_bytes: int = 64 * 1024 * 1024,
                 idle: float = 60.0):
        self.path, self.delay, self.keep_bytes, self.idle = path, delay, keep_bytes, idle
        self.checkpoints = 0
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def nudge(self) -> None:
        """Note a commit; start the thread in this process (a forked web worker has none yet)."""
        if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                    self._pid = os.getpid()
                    self._wake = threading.Event()
                    self._stopping = threading.Event()
                    self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint",
                                                    daemon=True)
                    self._thread.start()
        if not self._wake.is_set():  # set already: the thread has not yet taken the last one
            self._wake.set()

    def stop(self) -> None:
        """End the thread, waiting for a checkpoint under way to finish."""
        thread, stopping = self._thread, self._stopping
        stopping.set()
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def checkpoint(self) -> tuple[int, int, int]:
        """Run one PASSIVE checkpoint now: (busy, pages in the log, pages copied)."""
        # mode=rw: a database file that has gone is an error here, never created afresh.
        conn = sqlite3.connect(Path(self.path).as_uri() + "?mode=rw", timeout=30,
                               isolation_level=None, uri=True)
        try:
            conn.execute(f"PRAGMA journal_size_limit={self.keep_bytes}")
            busy, log, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            conn.close()
        self.checkpoints += 1
        return busy, log, copied

    def _run(self) -> None:
        wake, stopping = self._wake, self._stopping
        while True:
            if not wake.wait(self.idle) or stopping.is_set():
                return
            wake.clear()
            if stopping.wait(self.delay):  # let the commits of the next moments gather
                return
            try:
                self.checkpoint()
            except sqlite3.Error:
                pass  # locked or the file went away: the next commit tries again
