"""The test suite's settings: the secret key, the stores each behaviour runs on, PostgreSQL.

PostgreSQL tests need ``REFKIT_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://refkit:refkit@localhost/refkit_test``). Without it they skip, saying so;
with ``REFKIT_REQUIRE_POSTGRES=1`` (set by CI) a missing server fails the run instead.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import MetaData, create_engine, text

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


def clean_postgres(url: str) -> None:
    """Drop every table of the database at ``url`` (read from the database itself, so this
    needs no knowledge of refkit's schema module)."""
    engine = create_engine(url)
    with engine.begin() as connection:
        tables = MetaData()
        tables.reflect(connection)
        for name in tables.tables:  # CASCADE: in any order
            connection.execute(text(f'DROP TABLE IF EXISTS "{name}" CASCADE'))
    engine.dispose()
