"""A use case asks for its session's connection several times; it is kept for the transaction."""

from __future__ import annotations

from sqlalchemy import text

from engine import Engine
from engine.db import connection_of


def test_the_connection_kept_is_the_transactions_own_and_is_forgotten_when_it_ends(
        engine: Engine) -> None:
    with engine.sessions() as s:
        for _ in range(2):  # a second transaction on the same session gets its own connection
            with s.begin():
                kept = connection_of(s)
                assert kept is s.connection()
                assert kept.execute(text("SELECT 1")).scalar() == 1
                with s.begin_nested():  # a savepoint is on the same connection
                    assert connection_of(s) is kept is s.connection()
            assert kept.closed
