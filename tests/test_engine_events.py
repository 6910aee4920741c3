"""A shop's own engine sees every statement refkit runs on it.

``ReferralProgram(store=engine)`` keeps refkit's tables beside the shop's; the shop's
``before_cursor_execute`` listeners (Flask-SQLAlchemy's query recording, OpenTelemetry's
SQLAlchemy instrumentation, fault injection) must see each statement of a visit, a binding,
a rewarded conversion and a refund. What the listener sees is compared with what the driver
really ran, recorded below SQLAlchemy (sqlite3's trace callback; a psycopg cursor class), so
a statement sent to the driver behind SQLAlchemy's back fails the test.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event

import refkit
from tests.support.settings import SECRET, clean_postgres

RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    max_rewards_per_referrer=10,
)


class Seen:
    """The statements the shop's engine listener saw, and those the driver ran."""

    def __init__(self, engine: Engine) -> None:
        self.armed = False
        self.sqlite = engine.dialect.name == "sqlite"
        self.executions = 0  # before_cursor_execute calls (an executemany is one)
        self.listened: list[str] = []  # one entry per row for executemany
        self.driver: list[str] = []
        event.listen(engine, "before_cursor_execute", self._listen)
        event.listen(engine, "connect", self._install)

    @contextlib.contextmanager
    def window(self) -> Iterator[Seen]:
        self.listened.clear()
        self.driver.clear()
        self.executions = 0
        self.armed = True
        try:
            yield self
        finally:
            self.armed = False

    def _listen(
        self, _c: Any, _cursor: Any, statement: str, parameters: Any, _ctx: Any, many: bool
    ) -> None:
        if self.armed:
            self.executions += 1
            self.listened.extend([statement] * (len(parameters) if many else 1))

    def _install(self, dbapi_connection: Any, _record: Any) -> None:
        if hasattr(dbapi_connection, "set_trace_callback"):  # sqlite3
            dbapi_connection.set_trace_callback(self._traced)
        else:  # psycopg
            seen = self

            class Recording(type(dbapi_connection.cursor())):  # type: ignore[misc]
                def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                    if seen.armed:
                        seen.driver.append(str(query))
                    return super().execute(query, *args, **kwargs)

                def executemany(self, query: Any, rows: Any, *args: Any, **kwargs: Any) -> Any:
                    rows = list(rows)
                    if seen.armed:
                        seen.driver.extend([str(query)] * len(rows))
                    return super().executemany(query, rows, *args, **kwargs)

            dbapi_connection.cursor_factory = Recording

    def _traced(self, sql: str) -> None:
        # COMMIT and ROLLBACK come from the driver's commit() and rollback(), which
        # SQLAlchemy calls as such, not as statements.
        if self.armed and sql.strip().upper() not in ("COMMIT", "ROLLBACK"):
            self.driver.append(sql)

    def check(self, *expected: str) -> None:
        """Every statement the driver ran was seen by the listener, and ``expected``
        fragments are among them."""
        assert self.listened, "the shop's listener saw no statement"
        if not self.sqlite:
            assert Counter(self.listened) == Counter(self.driver)
        else:  # sqlite3 traces statements with their values: compare them in order
            assert len(self.listened) == len(self.driver), (self.listened, self.driver)
            for listened, ran in zip(self.listened, self.driver, strict=True):
                assert _verb(listened) == _verb(ran), (listened, ran)
        for fragment in expected:
            assert any(fragment in statement for statement in self.listened), fragment


def _verb(statement: str) -> tuple[str, ...]:
    words = statement.split()
    return tuple(word.upper() for word in words[:3])


@pytest.fixture(params=["sqlite", "postgres"])
def shop_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The shop's own engine (not one refkit made from a URL)."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    else:
        url = request.getfixturevalue("postgres_database")
        clean_postgres(url)
        engine = create_engine(url)
    yield engine
    engine.dispose()


def _scenario(program: refkit.ReferralProgram, seen: Seen) -> None:
    code = program.code_for("alice")
    other = refkit.ReferralProgram(secret_key=SECRET, store=program.store, rules=RULES)
    with seen.window():
        other.record_visit(code, visitor="v1")  # the referrer not cached: one statement
    seen.check("INSERT INTO refkit_visits", "refkit_referrer_totals")
    with seen.window():
        program.record_visit(code, visitor="v2")
    seen.check("INSERT INTO refkit_visits", "refkit_referrer_totals")
    click = program.fingerprint(ip="203.0.113.9", user_agent="Browser/1.0")
    with seen.window():
        program.attribute("bob", code, click=click, signup=click)
    seen.check("refkit_referrals", "refkit_signals", "refkit_flags")
    with seen.window():
        conversion = program.record_conversion("o1", "bob", "80", "EUR")
    assert len(conversion.rewards) == 2
    seen.check("refkit_conversions", "refkit_rewards", "refkit_ledger", "refkit_counters")
    with seen.window():
        guest = program.record_conversion("o2", "carol", "30", "EUR", code=code)
    assert guest.referrer_id == "alice"
    seen.check("refkit_referrals", "refkit_conversions", "refkit_rewards")
    with seen.window():
        changed = program.refund("o1")
    assert {reward.status for reward in changed} == {"revoked"}
    seen.check("refkit_conversions", "refkit_rewards", "refkit_ledger")


def test_a_shops_listener_sees_every_statement(shop_engine: Engine) -> None:
    seen = Seen(shop_engine)
    program = refkit.ReferralProgram(secret_key=SECRET, store=shop_engine, rules=RULES)
    _scenario(program, seen)


def test_opentelemetry_traces_every_statement(shop_engine: Engine) -> None:
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = SQLAlchemyInstrumentor()
    # The instrumentation's declared range stops before SQLAlchemy 2.1, which it handles
    # (it only listens to engine events): skip the version check.
    instrumentor.instrument(engine=shop_engine, tracer_provider=provider, skip_dep_check=True)
    try:
        program = refkit.ReferralProgram(secret_key=SECRET, store=shop_engine, rules=RULES)
        program.attribute("bob", program.code_for("alice"))
        seen = Seen(shop_engine)
        exporter.clear()
        with seen.window():
            program.record_visit(program.code_for("alice"))
            program.record_conversion("o1", "bob", "80", "EUR")
            program.refund("o1")
        spans = exporter.get_finished_spans()
    finally:
        instrumentor.uninstrument()
    # a span for each statement (besides one for each connection checkout)
    traced = [
        str(span.attributes.get("db.statement", span.attributes.get("db.query.text")))
        for span in spans
        if span.attributes
        and ("db.statement" in span.attributes or "db.query.text" in span.attributes)
    ]
    assert len(traced) == seen.executions > 0
    for fragment in ("INSERT INTO refkit_visits", "refkit_conversions", "refkit_rewards"):
        assert any(fragment in statement for statement in traced), fragment


def test_refkit_hands_a_shops_sqlite_connection_back_as_it_was(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}", pool_size=1, max_overflow=0)
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine, rules=RULES)
    program.attribute("bob", program.code_for("alice"))
    enforced = program.store.transaction(
        lambda c: c.exec_driver_sql("PRAGMA foreign_keys").scalar()
    )
    assert enforced == 1  # refkit's foreign keys hold in its own transactions
    with engine.connect() as connection:  # the same (only) pooled connection
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0
        assert connection.connection.driver_connection.isolation_level == ""  # type: ignore[union-attr]
    engine.dispose()
