"""Shared fixtures: every behaviour test runs on memory, an SQLite file and PostgreSQL.

The fault fixtures (``pg_proxy``, ``sqlite_lock``, ``pgbouncer_url``) live in
``tests/support/faults.py``.

PostgreSQL tests need ``REFKIT_TEST_POSTGRES_URL`` (for example
``postgresql+psycopg://refkit:refkit@localhost/refkit_test``). Without it they skip, saying so;
with ``REFKIT_REQUIRE_POSTGRES=1`` (set by CI) a missing server fails the run instead.

Test modules never import this file (nor each other): the constants and helpers they share are
in ``tests/support/``; the Flask shop's fixtures (``make_shop``, ``app``, ``client``...) are the
plugin :mod:`tests.support.shop_fixtures`, registered here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

import refkit

from .support.contract import every_order_rules, example_rules
from .support.settings import SECRET, STORE_KINDS, clean_postgres, postgres_url_or_skip

pytest_plugins = [
    "tests.support.shop_fixtures",
    "tests.support.faults",
    "tests.support.browser_fixtures",
    "tests.support.axe",
    "tests.support.django_fixtures",
]

Program = refkit.ReferralProgram


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


@pytest.fixture(params=STORE_KINDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty store of each kind."""
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'refkit.db'}"
    else:
        url = request.getfixturevalue("postgres_database")
        clean_postgres(url)
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


# -- the contract's programs (tests/test_contract_*.py) ---------------------------------------


@pytest.fixture
def example(make_program: Callable[..., Program]) -> Program:
    """A program on the rules of API.md's code block, on each store."""
    return make_program(rules=example_rules())


@pytest.fixture
def every_order(make_program: Callable[..., Program]) -> Program:
    """A double-sided program where every order qualifies, on each store."""
    return make_program(rules=every_order_rules())


@pytest.fixture
def contract_program(tmp_path: Path) -> Iterator[Program]:
    """The constructor call of API.md, verbatim but for a real key and a temporary file."""
    program = refkit.ReferralProgram(
        secret_key=SECRET,
        store=f"sqlite:///{tmp_path / 'refkit.db'}",
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
            referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
            min_order_amount=Decimal("20"),
            first_purchase_only=True,
            attribution_window=timedelta(days=30),
            hold_period=timedelta(days=14),
            max_rewards_per_referrer=None,
        ),
    )
    yield program
    program.store.close()  # type: ignore[attr-defined]
