"""Shared fixtures: every behaviour test runs on memory, an SQLite file and PostgreSQL.

The fault fixtures (``pg_proxy``, ``sqlite_lock``, ``pgbouncer_url``) live in
``tests/support/faults.py``.

PostgreSQL tests need ``REFKIT_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://refkit:refkit@localhost/refkit_test``). Without it they skip, saying so;
with ``REFKIT_REQUIRE_POSTGRES=1`` (set by CI) a missing server fails the run instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import refkit
from refkit.storage.schema import metadata
from tests.support.faults import pg_proxy, pgbouncer_url, sqlite_lock

__all__ = ["pg_proxy", "pgbouncer_url", "sqlite_lock"]  # the fault fixtures, shared from here

SECRET = "test-secret-key-0123456789abcdefghijklmnop"
POSTGRES_URL = os.environ.get("REFKIT_TEST_POSTGRES_URL", "")
REQUIRE_POSTGRES = os.environ.get("REFKIT_REQUIRE_POSTGRES") == "1"
STORE_KINDS = ["memory", "sqlite", "postgres"]


def postgres_url_or_skip() -> str:
    """The test server's URL, or skip (fail in CI) with how to enable the tests."""
    if not POSTGRES_URL:
        message = (
            "PostgreSQL tests need REFKIT_TEST_POSTGRES_URL, e.g. "
            "postgresql+psycopg://refkit:refkit@localhost/refkit_test (CI sets it)"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this session (dropped afterwards)."""
    base = postgres_url_or_skip()
    name = f"refkit_{uuid.uuid4().hex[:10]}"
    # pool_pre_ping: test_pg_restart restarts the server, killing the pooled connection.
    admin = create_engine(base, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _clean_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(text(f"DROP TABLE IF EXISTS {table.name} CASCADE"))
        connection.execute(text("DROP TABLE IF EXISTS refkit_alembic_version"))
    engine.dispose()


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty store of each kind."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'refkit.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
        _clean_postgres(url)
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[refkit.Store]:
    opened = refkit.open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def clock() -> refkit.FrozenClock:
    return refkit.FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def make_program(store: refkit.Store, clock: refkit.FrozenClock):  # type: ignore[no-untyped-def]
    """Build programs on the shared store: ``make_program(rules=..., secret_key=...)``."""

    def make(rules: refkit.RewardRules | None = None, **options: object) -> refkit.ReferralProgram:
        options.setdefault("secret_key", SECRET)
        options.setdefault("clock", clock)
        return refkit.ReferralProgram(store=store, rules=rules, **options)  # type: ignore[arg-type]

    return make


@pytest.fixture
def program(make_program) -> refkit.ReferralProgram:  # type: ignore[no-untyped-def]
    """A program without rules on each store."""
    return make_program()  # type: ignore[no-any-return]
