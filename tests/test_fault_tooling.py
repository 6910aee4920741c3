"""The fault tooling works: the PostgreSQL proxy, the SQLite lock holder, PgBouncer.

These tests prove the faults are real (a lost COMMIT answer leaves a committed row and an
error, a frozen link answers nothing until thawed, a lock held in another process blocks this
one) so that the fault tests of the engine can rely on them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError

import refkit
from tests.support.faults import PgProxy, SqliteWriteLock
from tests.support.settings import clean_postgres


@pytest.fixture
def probe_table(postgres_database: str) -> Iterator[Engine]:
    """A direct engine on the session database, with an empty ``fault_probe`` table."""
    engine = create_engine(postgres_database)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS fault_probe"))
        connection.execute(text("CREATE TABLE fault_probe (id int PRIMARY KEY)"))
    yield engine
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS fault_probe"))
    engine.dispose()


def probe_ids(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(text("SELECT id FROM fault_probe ORDER BY id")).scalars())


def psycopg_dsn(sqlalchemy_url: str) -> str:
    return make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(False)


# -- the proxy -------------------------------------------------------------------------------


def test_the_proxy_passes_queries_through(pg_proxy: PgProxy, postgres_database: str) -> None:
    engine = create_engine(pg_proxy.url(postgres_database))
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 40 + 2")).scalar() == 42
    finally:
        engine.dispose()


def test_a_dropped_commit_answer_raises_while_the_row_is_committed(
    pg_proxy: PgProxy, postgres_database: str, probe_table: Engine
) -> None:
    engine = create_engine(pg_proxy.url(postgres_database))
    try:
        pg_proxy.drop_commit_answers(1)
        connection = engine.connect()
        connection.execute(text("INSERT INTO fault_probe VALUES (1)"))
        with pytest.raises(OperationalError):
            connection.commit()  # psycopg's commit: a simple-query COMMIT
        connection.close()
        assert pg_proxy.commit_answers_dropped == 1
        assert probe_ids(probe_table) == [1]  # committed, though the client got an error
        # Only the next COMMIT: the following transaction goes through.
        with engine.begin() as again:
            again.execute(text("INSERT INTO fault_probe VALUES (2)"))
        assert probe_ids(probe_table) == [1, 2]
    finally:
        engine.dispose()


def test_a_commit_sent_as_an_extended_query_is_seen_too(
    pg_proxy: PgProxy, postgres_database: str, probe_table: Engine
) -> None:
    pg_proxy.drop_commit_answers(1)
    with psycopg.connect(psycopg_dsn(pg_proxy.url(postgres_database))) as connection:
        connection.execute("INSERT INTO fault_probe VALUES (3)")
        with pytest.raises(psycopg.OperationalError):
            connection.execute("COMMIT", prepare=True)  # Parse, Bind, Execute, Sync
    assert pg_proxy.commit_answers_dropped == 1
    assert probe_ids(probe_table) == [3]


def test_a_frozen_proxy_answers_nothing_until_thawed(
    pg_proxy: PgProxy, postgres_database: str
) -> None:
    engine = create_engine(pg_proxy.url(postgres_database))
    answers: list[Any] = []
    try:
        with engine.connect() as connection:
            connection.execute(text("SET statement_timeout = '50ms'"))  # no help: never sent
            pg_proxy.freeze()
            query = threading.Thread(
                target=lambda: answers.append(connection.execute(text("SELECT 7")).scalar())
            )
            query.start()
            assert pg_proxy.holding.wait(10), "the query never reached the proxy"
            assert answers == []  # its bytes are held: no answer can exist yet
            pg_proxy.thaw()
            query.join(10)
            assert answers == [7]
    finally:
        pg_proxy.thaw()
        engine.dispose()


def test_closing_the_connections_breaks_the_open_ones_only(
    pg_proxy: PgProxy, postgres_database: str
) -> None:
    engine = create_engine(pg_proxy.url(postgres_database), pool_pre_ping=False)
    try:
        connection = engine.connect()
        assert connection.execute(text("SELECT 1")).scalar() == 1
        pg_proxy.close_connections()
        with pytest.raises(OperationalError):
            connection.execute(text("SELECT 1"))
        connection.close()
        with engine.connect() as fresh:
            assert fresh.execute(text("SELECT 2")).scalar() == 2
    finally:
        engine.dispose()


# -- SQLite: a writer in another process -----------------------------------------------------


def test_another_process_holds_the_sqlite_write_lock_until_released(
    sqlite_lock: SqliteWriteLock,
) -> None:
    sqlite_lock.acquire()
    assert sqlite_lock.pid not in (None, os.getpid())
    mine = sqlite3.connect(sqlite_lock.path, timeout=0, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            mine.execute("BEGIN IMMEDIATE")
        sqlite_lock.release()
        mine.execute("BEGIN IMMEDIATE")
        mine.execute("ROLLBACK")
    finally:
        mine.close()


# -- PgBouncer -------------------------------------------------------------------------------


def test_pgbouncer_runs_queries_in_transaction_pooling_mode(pgbouncer_url: str) -> None:
    engine = create_engine(pgbouncer_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
            port = connection.execute(text("SELECT inet_server_port()")).scalar()
        assert make_url(pgbouncer_url).port != port  # through the pooler, not straight in
    finally:
        engine.dispose()


def test_a_program_round_trip_through_pgbouncer(
    pgbouncer_url: str, postgres_database: str, clock: Any
) -> None:
    clean_postgres(postgres_database)  # the session database: other tests' rows go
    store = refkit.open_store(pgbouncer_url)
    try:
        program = refkit.ReferralProgram(
            store=store,
            secret_key="pgbouncer-secret-0123456789abcdefghijklmno",
            clock=clock,
            rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR")),
        )
        # The session's database is shared with other tests: names of this test's own.
        run = uuid.uuid4().hex[:8]
        code = program.code_for(f"alice-{run}")
        for n in range(10):  # past psycopg's prepare threshold (5 runs of one statement)
            program.record_visit(code, visitor=f"v{n}")
            program.attribute(f"friend-{run}-{n}", code)
            program.record_conversion(f"order-{run}-{n}", f"friend-{run}-{n}", Decimal("30"), "EUR")
        stats = program.stats_for(f"alice-{run}")
        assert (stats.visits, stats.signups, stats.conversions) == (10, 10, 10)
    finally:
        store.close()


def test_a_dropped_answer_can_wait_for_a_transaction_that_wrote(
    pg_proxy: PgProxy, postgres_database: str, probe_table: Engine
) -> None:
    engine = create_engine(pg_proxy.url(postgres_database))
    try:
        pg_proxy.drop_commit_answers(1, after="INSERT INTO fault_probe")
        with engine.begin() as read:  # a read's COMMIT goes through
            assert read.execute(text("SELECT count(*) FROM fault_probe")).scalar() == 0
        connection = engine.connect()
        connection.execute(text("INSERT INTO fault_probe VALUES (4)"))
        with pytest.raises(OperationalError):
            connection.commit()
        connection.close()
        assert pg_proxy.commit_answers_dropped == 1
        assert probe_ids(probe_table) == [4]
    finally:
        engine.dispose()


def test_a_transaction_frozen_at_its_commit_keeps_its_locks_until_thawed(
    pg_proxy: PgProxy, postgres_database: str, probe_table: Engine
) -> None:
    engine = create_engine(pg_proxy.url(postgres_database))
    finished: list[bool] = []

    def write() -> None:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO fault_probe VALUES (5)"))
        finished.append(True)

    try:
        pg_proxy.freeze_at_next_commit(after="fault_probe")
        writer = threading.Thread(target=write)
        writer.start()
        assert pg_proxy.holding.wait(10), "the COMMIT never reached the proxy"
        with probe_table.connect() as other:  # the row lock is still held server-side
            other.execute(text("SET lock_timeout = '100ms'"))
            with pytest.raises(OperationalError, match="lock timeout"):
                other.execute(text("INSERT INTO fault_probe VALUES (5)"))
        assert finished == []
        pg_proxy.thaw()
        writer.join(10)
        assert finished == [True]
        assert probe_ids(probe_table) == [5]
    finally:
        pg_proxy.thaw()
        engine.dispose()


def test_two_app_servers_share_pgbouncers_server_connection(
    pgbouncer_url: str, postgres_database: str, clock: Any
) -> None:
    clean_postgres(postgres_database)
    stores = [refkit.open_store(pgbouncer_url), refkit.open_store(pgbouncer_url)]
    try:
        for store in stores:  # one after the other: the second gets the first's server conn
            program = refkit.ReferralProgram(
                store=store, secret_key="pgbouncer-secret-0123456789abcdefghijklmno", clock=clock
            )
            code = program.code_for("alice")
            for n in range(8):
                program.record_visit(code, visitor=f"v{n}")
    finally:
        for store in stores:
            store.close()
