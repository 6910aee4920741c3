"""The PostgreSQL server the benchmarks may use, and a scratch database on it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

__all__ = ["DEFAULT_URL", "ENV", "postgres_url", "redacted", "scratch_database"]

ENV = "REFKIT_BENCH_POSTGRES_URL"
DEFAULT_URL = "postgresql+psycopg://refkit:refkit@127.0.0.1/refkit_test"


def redacted(url: str) -> str:
    """``url`` without its password, for printing."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def postgres_url() -> tuple[str | None, str]:
    """The server's URL if it answers, else ``None`` and why (the note to print)."""
    url = os.environ.get(ENV, DEFAULT_URL)
    if not url:
        return None, f"PostgreSQL benchmarks skipped: {ENV} is set empty"
    try:
        engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 3})
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        finally:
            engine.dispose()
    except Exception as error:
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else repr(error)
        return None, (
            f"PostgreSQL benchmarks skipped: {redacted(url)} is not reachable ({reason}); "
            f"set {ENV} to a server where the user may CREATE DATABASE"
        )
    return url, ""


@contextmanager
def scratch_database(base_url: str) -> Iterator[str]:
    """A fresh database next to ``base_url``'s, dropped afterwards (even if connections are
    left open: ``WITH (FORCE)``). Yields its URL."""
    name = f"refkit_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield admin.url.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
