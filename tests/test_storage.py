"""Store selection by URL, shared engines, SQLite durability, and constraints in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import IntegrityError

import refkit
from refkit import Reward, RewardRules
from refkit.storage import MemoryStore, SqlStore, open_store

from .support.settings import SECRET


def test_memory_only_on_request() -> None:
    assert isinstance(open_store("memory://"), MemoryStore)


def test_default_store_is_an_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    program = refkit.ReferralProgram(secret_key=SECRET)
    program.code_for("alice")
    assert isinstance(program.store, SqlStore)
    assert (tmp_path / "refkit.db").exists()
    program.store.close()


@pytest.mark.parametrize(
    "url", ["redis://localhost", "nonsense", "memory://elsewhere", "mysqlx+nothing://x/y", 42]
)
def test_unknown_stores_are_configuration_errors(url: object) -> None:
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(secret_key=SECRET, store=url)  # type: ignore[arg-type]


def test_sqlite_durability_settings(tmp_path: Path) -> None:
    store = SqlStore(f"sqlite:///{tmp_path / 'r.db'}")
    store.create_all()
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    store.close()


def test_programs_can_share_a_store(program: refkit.ReferralProgram) -> None:
    other = refkit.ReferralProgram(
        secret_key="a-different-secret-key-0123456789abcdef", store=program.store
    )
    program.attribute("bob", program.code_for("alice"))
    assert other.referral_for("bob").referrer_id == "alice"  # type: ignore[union-attr]
    with pytest.raises(refkit.InvalidCode):
        other.resolve(program.code_for("alice"))


def test_a_shops_own_engine_keeps_its_tables(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE orders (id INTEGER PRIMARY KEY, total TEXT)"))
        connection.execute(text("INSERT INTO orders (total) VALUES ('9.99')"))
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine)
    program.attribute("bob", program.code_for("alice"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT total FROM orders")).scalar() == "9.99"
        tables = {r[0] for r in connection.execute(text("SELECT name FROM sqlite_master"))}
    assert {"orders", "refkit_referrals", "refkit_rewards"} <= tables
    program.store.close()
    engine.dispose()


def test_postgres_url_without_driver_means_psycopg() -> None:
    from refkit.storage.engines import engine_for_url

    engine = engine_for_url("postgresql://u:p@localhost/db")
    assert engine.dialect.driver == "psycopg"


def test_store_errors_are_storage_errors(tmp_path: Path) -> None:
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    )
    with pytest.raises(refkit.StorageError):
        program.code_for("alice")


# -- the database itself refuses what the rules forbid, whoever writes -------------------------


@pytest.fixture
def seeded(make_program) -> refkit.ReferralProgram:
    program = make_program(rules=RewardRules(referrer_reward=Reward.fixed(Decimal(5), "EUR")))
    program.attribute("bob", program.code_for("alice"))
    program.code_for("carol")
    program.record_conversion("o1", "bob", 50, "EUR")
    program.record_conversion("o2", "bob", 50, "EUR")
    return program  # type: ignore[no-any-return]


def _raw(program: refkit.ReferralProgram, sql: str) -> None:
    engine = program.store.engine  # type: ignore[attr-defined]
    with engine.connect() as connection, connection.begin():
        connection.execute(text(sql), {"at": datetime(2026, 1, 1, tzinfo=UTC)})


def _reward_sql(order: str, referrer: str, beneficiary: str, role: str, value: int = 500) -> str:
    return (
        "INSERT INTO refkit_rewards (order_id, referee_id, referrer_id, beneficiary_id, role, "
        "kind, value_minor, original_minor, currency, status, created_at, due_at) VALUES "
        f"('{order}', 'bob', '{referrer}', '{beneficiary}', '{role}', 'fixed', {value}, "
        f"{value}, 'EUR', 'pending', :at, :at)"
    )


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param(_reward_sql("o2", "alice", "alice", "referrer"), id="second-reward"),
        pytest.param(_reward_sql("o2", "carol", "carol", "referrer"), id="not-the-referrer"),
        pytest.param(_reward_sql("o2", "alice", "carol", "referee"), id="wrong-beneficiary"),
        pytest.param(_reward_sql("o2", "alice", "bob", "referee", -1), id="negative-amount"),
        pytest.param(
            "INSERT INTO refkit_referrals (referee_id, referrer_id, source, pair_low, pair_high,"
            " created_at) VALUES ('carol', 'carol', 'link', 'carol', 'carol', :at)",
            id="self-referral",
        ),
        pytest.param(
            "INSERT INTO refkit_referrals (referee_id, referrer_id, source, pair_low, pair_high,"
            " created_at) VALUES ('alice', 'bob', 'link', 'alice', 'bob', :at)",
            id="two-person-cycle",
        ),
        pytest.param(
            "INSERT INTO refkit_referrals (referee_id, referrer_id, source, pair_low, pair_high,"
            " created_at) VALUES ('bob', 'carol', 'link', 'bob', 'carol', :at)",
            id="second-referrer",
        ),
        pytest.param(
            "INSERT INTO refkit_conversions (order_id, customer_id, amount_minor, "
            "refunded_minor, currency, reasons, created_at) VALUES "
            "('o1', 'x', 1, 0, 'EUR', '', :at)",
            id="duplicate-order",
        ),
        pytest.param(
            "UPDATE refkit_conversions SET refunded_minor = amount_minor + 1 WHERE order_id='o1'",
            id="over-refund",
        ),
        pytest.param(
            "UPDATE refkit_conversions SET amount_minor = 10000000000000001 WHERE order_id='o1'",
            id="over-large-amount",
        ),
        pytest.param(
            "INSERT INTO refkit_ledger (reward_id, beneficiary_id, kind, once_key, pending_minor,"
            " approved_minor, currency, created_at) SELECT id, 'alice', 'accrued', 'accrued', 1,"
            " 0, 'EUR', :at FROM refkit_rewards",
            id="second-accrual",
        ),
    ],
)
def test_constraints_refuse_forbidden_rows(seeded: refkit.ReferralProgram, sql: str) -> None:
    with pytest.raises(IntegrityError):
        _raw(seeded, sql)


def test_postgres_connections_time_out_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from refkit.storage import engines

    seen: list[dict[str, object]] = []
    real = engines.create_engine

    def spy(url: object, **options: object):  # type: ignore[no-untyped-def]
        seen.append(options)
        return real(url, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(engines, "create_engine", spy)
    engines.engine_for_url("postgresql://u:p@localhost/db")
    engines.engine_for_url("postgresql://u:p@localhost/db?connect_timeout=1")
    assert seen[0]["connect_args"]["connect_timeout"] == engines.CONNECT_TIMEOUT_SECONDS  # type: ignore[index]
    assert "connect_timeout" not in seen[1]["connect_args"]  # type: ignore[operator]  # the URL's own wins


def test_an_unreachable_postgres_fails_with_storage_error_quickly() -> None:
    import time

    # Port 1 on loopback: nothing listens, so the connection is refused at once.
    program = refkit.ReferralProgram(
        secret_key=SECRET, store="postgresql://u:p@127.0.0.1:1/db?connect_timeout=2"
    )
    started = time.perf_counter()
    with pytest.raises(refkit.StorageError):
        program.code_for("alice")
    assert time.perf_counter() - started < 10


def test_read_runs_a_query_of_your_own(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    store = program.store
    assert isinstance(store, SqlStore)
    count = store.read(lambda c: c.execute(text("SELECT count(*) FROM refkit_referrals")).scalar())
    assert count == 1
