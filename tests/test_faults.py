"""Fault injection: a database error on any statement, or at commit, leaves nothing partial.

For each write the shop makes (a conversion, a refund, an approval run) a first clean run on a
scratch store counts the statements and commits the call executes; then, on a store in the
same state, a fault is injected at each one in turn, on the store's real engine (no mocks):

* a ``before_cursor_execute`` listener raises a driver error (``sqlite3`` / ``psycopg``
  exceptions, which SQLAlchemy wraps in ``DBAPIError`` like any real one) on the Nth statement;
* the dialect's ``do_commit`` raises one at the Nth commit, where a real ``COMMIT`` failure
  surfaces (a ``commit`` event listener runs outside SQLAlchemy's error handling, so what it
  raises would escape unwrapped, unlike any error a driver can raise there).

A non-retryable error must reach the caller as :class:`refkit.StorageError` after one attempt,
with every ``refkit_`` table exactly as before the call and no hook fired; a clean retry then
succeeds exactly once, and a second retry creates nothing. A retryable error (SQLite's
"database is locked", PostgreSQL's serialization failures and deadlocks, a lost connection) is
retried by the store and the call succeeds as if nothing happened.
"""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.exc import DBAPIError

import refkit
from refkit.storage import MemoryStore, SqlStore

from .support.settings import SECRET, clean_postgres

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOLD = timedelta(days=14)
REFERRER_ONLY = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10), max_rewards_per_referrer=3
)
DOUBLE_SIDED = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=HOLD,
    max_rewards_per_referrer=3,
)
EVENTS = refkit.EVENTS
INJECTED: Counter[str] = Counter()  # faults injected per store kind, printed at the end

ErrorFactory = Callable[[Any], BaseException | None]  # given the DBAPI connection


# -- fault injection -------------------------------------------------------------------------


class Faults:
    """Counts the statements and commits run on one engine, and fails the chosen one."""

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.statements = 0
        self.seen: list[str] = []  # the statements counted, in order
        self.commits = 0
        self.injected = 0
        self._statement: int | None = None
        self._commit: int | None = None
        self._error: ErrorFactory | None = None
        event.listen(engine, "before_cursor_execute", self._before_cursor_execute)
        self._real_commit = engine.dialect.do_commit
        engine.dialect.do_commit = self._do_commit  # type: ignore[method-assign]

    @contextlib.contextmanager
    def armed(
        self,
        *,
        statement: int | None = None,
        commit: int | None = None,
        error: ErrorFactory | None = None,
    ) -> Iterator[Faults]:
        """Count; with ``error``, fail the ``statement``-th statement or ``commit``-th commit."""
        self.statements = self.commits = self.injected = 0
        self.seen = []
        self._statement, self._commit, self._error = statement, commit, error
        self.active = True
        try:
            yield self
        finally:
            self.active = False

    def _fail(self, dbapi_connection: Any) -> None:
        assert self._error is not None
        self.injected += 1
        # do_commit gets the pool's proxy: the driver's connection is behind it.
        error = self._error(getattr(dbapi_connection, "dbapi_connection", dbapi_connection))
        if error is not None:
            raise error

    def _before_cursor_execute(
        self, connection: Any, _cursor: Any, statement: str, *_: Any
    ) -> None:
        if self.active:
            self.statements += 1
            self.seen.append(statement)
            if self.statements == self._statement:
                self._fail(connection.connection.dbapi_connection)

    def _do_commit(self, dbapi_connection: Any) -> None:
        if self.active:
            self.commits += 1
            if self.commits == self._commit:
                self._fail(dbapi_connection)
        self._real_commit(dbapi_connection)


def _sqlite_disk_error(_: Any) -> BaseException:
    return sqlite3.OperationalError("disk I/O error (injected fault)")


def _sqlite_locked(_: Any) -> BaseException:
    return sqlite3.OperationalError("database is locked")


def _postgres_disk_full(_: Any) -> BaseException:
    import psycopg

    return psycopg.errors.DiskFull("could not extend file: No space left (injected fault)")


def _postgres_serialization(_: Any) -> BaseException:
    import psycopg

    return psycopg.errors.SerializationFailure("could not serialize access (injected fault)")


def _postgres_deadlock(_: Any) -> BaseException:
    import psycopg

    return psycopg.errors.DeadlockDetected("deadlock detected (injected fault)")


def _disconnect(dbapi_connection: Any) -> None:
    """Close the connection under the transaction: the real statement or commit then fails."""
    dbapi_connection.close()


#: Per store kind: the non-retryable error, and the retryable ones (used in turn).
FATAL: dict[str, ErrorFactory] = {
    "memory": _sqlite_disk_error,
    "sqlite": _sqlite_disk_error,
    "postgres": _postgres_disk_full,
}
RETRYABLE: dict[str, list[ErrorFactory]] = {
    "memory": [_sqlite_locked],  # closing its one connection would drop the whole database
    "sqlite": [_sqlite_locked],
    "postgres": [_postgres_serialization, _postgres_deadlock, _disconnect],
}


# -- stores, snapshots -----------------------------------------------------------------------


@dataclass
class Shop:
    """A program on a store of its own, with fault injection and a count of the hooks fired."""

    program: refkit.ReferralProgram
    clock: refkit.FrozenClock
    faults: Faults
    hooks: Counter[str] = field(default_factory=Counter)
    code: str = ""

    @property
    def store(self) -> SqlStore:
        store = self.program.store
        assert isinstance(store, SqlStore)
        return store


class Stores:
    """Fresh stores of one kind, each in the same (empty) starting state."""

    def __init__(self, kind: str, tmp_path: Path, postgres_url: str | None) -> None:
        self.kind = kind
        self._tmp_path = tmp_path
        self._url = postgres_url
        self._numbers = itertools.count()
        self._open: list[SqlStore] = []
        if postgres_url is not None:
            clean_postgres(postgres_url)

    def _fresh_store(self) -> SqlStore:
        self.close_all()
        if self.kind == "memory":
            store: SqlStore = MemoryStore()
        elif self.kind == "sqlite":
            store = SqlStore(f"sqlite:///{self._tmp_path / f'faults-{next(self._numbers)}.db'}")
        else:
            assert self._url is not None
            store = SqlStore(self._url)
            with store.engine.begin() as connection:
                names = [n for n in _refkit_tables(connection) if n != "refkit_alembic_version"]
                if names:
                    connection.execute(
                        text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY CASCADE")
                    )
        store.create_all()
        self._open.append(store)
        return store

    def shop(self, case: Case) -> Shop:
        """A store in the case's starting state."""
        store = self._fresh_store()
        clock = refkit.FrozenClock(START)
        program = refkit.ReferralProgram(SECRET, store=store, rules=case.rules, clock=clock)
        shop = Shop(program, clock, Faults(store.engine))
        for name in EVENTS:
            program.on(name, lambda _record, name=name: shop.hooks.update([name]))
        case.setup(shop)
        return shop

    def close_all(self) -> None:
        for store in self._open:
            store.close()
        self._open.clear()


def _refkit_tables(bind: Any) -> list[str]:
    return sorted(n for n in inspect(bind).get_table_names() if n.startswith("refkit_"))


Snapshot = dict[str, list[tuple[tuple[str, Any], ...]]]


def snapshot(shop: Shop) -> Snapshot:
    """Every row of every ``refkit_`` table but ``refkit_operations`` (the runner's record of
    committed transactions, one row per write, the replays' included: not stored state)."""
    with shop.store.engine.connect() as connection:
        return {
            name: sorted(
                (
                    tuple(row._mapping.items())
                    for row in connection.execute(text(f"SELECT * FROM {name}"))
                ),
                key=repr,
            )
            for name in _refkit_tables(connection)
            if name != "refkit_operations"
        }


def _summed_totals(rows: Any) -> Any:
    sums: dict[str, Counter[str]] = {}
    for row in rows:
        values = dict(row)
        counts = sums.setdefault(values["referrer_id"], Counter())
        counts.update(visits=values["visits"], signups=values["signups"])
    return sorted(
        (("referrer_id", user), ("signups", c["signups"]), ("visits", c["visits"]))
        for user, c in sums.items()
    )


def normalized(snap: Snapshot) -> Snapshot:
    """A snapshot comparable across stores: generated ids and random referrer numbers dropped.

    (PostgreSQL sequences are not transactional: a rolled-back insert still uses an id.)
    Rewards are named by (order, role), and what points at them by that name.
    """
    names = {
        dict(row)["id"]: (dict(row)["order_id"], dict(row)["role"])
        for row in snap.get("refkit_rewards", [])
    }
    result: Snapshot = {}
    for table, rows in snap.items():
        if table == "refkit_referrer_totals":  # shards are picked at random: sum them
            result[table] = _summed_totals(rows)
            continue
        kept = []
        for row in rows:
            values = dict(row)
            if "id" in values:
                values["id"] = names[values["id"]] if table == "refkit_rewards" else None
            if "reward_id" in values:
                values["reward_id"] = names.get(values["reward_id"], values["reward_id"])
            if table == "refkit_referrers":
                values["number"] = None
            kept.append(tuple(sorted(values.items())))
        result[table] = sorted(kept, key=repr)
    return result


def count(shop: Shop, table: str, **where: object) -> int:
    rows = snapshot(shop)[table]
    return sum(all(dict(row)[k] == v for k, v in where.items()) for row in rows)


# -- the calls -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    rules: refkit.RewardRules
    setup: Callable[[Shop], None]
    call: Callable[[Shop], Any]
    expect: Callable[[Shop, Any], None]
    #: what the same call raises once it has succeeded (None: it returns and creates nothing)
    again: type[Exception] | None = None


def _referred(shop: Shop) -> None:
    shop.program.attribute("bob", shop.program.code_for("alice"))


def _converted(shop: Shop) -> None:
    _referred(shop)
    shop.program.record_conversion("order-1", "bob", "100.00", "EUR")


def _approved(shop: Shop) -> None:
    _converted(shop)
    shop.clock.advance(HOLD + timedelta(days=1))
    assert len(shop.program.approve_due()) == 2


def _two_due(shop: Shop) -> None:
    _converted(shop)
    shop.program.attribute("carol", shop.program.code_for("alice"))
    shop.program.record_conversion("order-2", "carol", "30.00", "EUR")
    shop.clock.advance(HOLD + timedelta(days=1))


def _guest(shop: Shop) -> None:
    shop.code = shop.program.code_for("alice")


def _convert(shop: Shop) -> refkit.Conversion:
    return shop.program.record_conversion("order-1", "bob", "100.00", "EUR")


def _convert_guest(shop: Shop) -> refkit.Conversion:
    return shop.program.record_conversion("order-1", "guest-7", "100.00", "EUR", code=shop.code)


def _rewards(shop: Shop) -> dict[str, tuple[str, int]]:
    """role -> (status, value_minor) of order-1's rewards."""
    return {
        dict(r)["role"]: (dict(r)["status"], dict(r)["value_minor"])
        for r in snapshot(shop)["refkit_rewards"]
        if dict(r)["order_id"] == "order-1"
    }


def _ledger_kinds(shop: Shop) -> Counter[str]:
    return Counter(dict(r)["kind"] for r in snapshot(shop)["refkit_ledger"])


def _expect_rewarded(shop: Shop, result: refkit.Conversion) -> None:
    assert [r.role for r in result.rewards] == ["referrer"]
    assert count(shop, "refkit_conversions") == 1
    assert _rewards(shop) == {"referrer": ("pending", 1000)}
    assert _ledger_kinds(shop) == {"accrued": 1}
    assert count(shop, "refkit_counters", referrer_id="alice", rewards=1) == 1
    assert shop.hooks == {"referral.created": 1, "conversion.recorded": 1, "reward.created": 1}


def _expect_double(shop: Shop, result: refkit.Conversion) -> None:
    assert sorted(r.role for r in result.rewards) == ["referee", "referrer"]
    assert count(shop, "refkit_conversions") == 1
    assert _rewards(shop) == {"referrer": ("pending", 1000), "referee": ("pending", 500)}
    assert _ledger_kinds(shop) == {"accrued": 2}
    assert count(shop, "refkit_counters", referrer_id="alice", rewards=1) == 1


def _expect_guest(shop: Shop, result: refkit.Conversion) -> None:
    _expect_double(shop, result)
    assert count(shop, "refkit_referrals", referee_id="guest-7", source="code") == 1
    assert shop.hooks == {"referral.created": 1, "conversion.recorded": 1, "reward.created": 2}


def _expect_full_refund(shop: Shop, result: list[refkit.EarnedReward]) -> None:
    assert sorted(r.status for r in result) == ["revoked", "revoked"]
    assert _rewards(shop) == {"referrer": ("revoked", 1000), "referee": ("revoked", 500)}
    assert _ledger_kinds(shop) == {"accrued": 2, "revoked": 2}
    assert count(shop, "refkit_conversions", refunded_minor=10000) == 1
    assert shop.hooks["reward.revoked"] == 2


def _expect_partial_refund(shop: Shop, result: list[refkit.EarnedReward]) -> None:
    assert [r.role for r in result] == ["referrer"]
    assert _rewards(shop) == {"referrer": ("pending", 400), "referee": ("pending", 500)}
    assert _ledger_kinds(shop) == {"accrued": 2, "adjusted": 1}
    assert count(shop, "refkit_ledger", kind="adjusted", pending_minor=-600) == 1
    assert count(shop, "refkit_conversions", refunded_minor=6000) == 1


def _expect_reversed(shop: Shop, result: list[refkit.EarnedReward]) -> None:
    assert sorted(r.status for r in result) == ["reversed", "reversed"]
    assert _rewards(shop) == {"referrer": ("reversed", 1000), "referee": ("reversed", 500)}
    assert _ledger_kinds(shop) == {"accrued": 2, "approved": 2, "reversed": 2}
    assert count(shop, "refkit_ledger", kind="reversed", approved_minor=-1000) == 1
    assert shop.hooks["reward.reversed"] == 2


def _expect_approved(shop: Shop, result: list[refkit.EarnedReward]) -> None:
    assert len(result) == 4
    assert count(shop, "refkit_rewards", status="approved") == 4
    assert _ledger_kinds(shop) == {"accrued": 4, "approved": 4}
    assert shop.hooks["reward.approved"] == 4


CASES = [
    Case("conversion-rewarded", REFERRER_ONLY, _referred, _convert, _expect_rewarded),
    Case("conversion-double-sided", DOUBLE_SIDED, _referred, _convert, _expect_double),
    Case("conversion-guest-code", DOUBLE_SIDED, _guest, _convert_guest, _expect_guest),
    Case(
        "refund-full",
        DOUBLE_SIDED,
        _converted,
        lambda shop: shop.program.refund("order-1"),
        _expect_full_refund,
    ),
    Case(
        "refund-partial",
        DOUBLE_SIDED,
        _converted,
        lambda shop: shop.program.refund("order-1", "60.00"),
        _expect_partial_refund,
        # A partial refund has no id of its own: the same call again is a second refund, and
        # 60 of the 40 left is refused (so a blind retry after success cannot refund twice).
        again=refkit.ValidationError,
    ),
    Case(
        "refund-after-approval",
        DOUBLE_SIDED,
        _approved,
        lambda shop: shop.program.refund("order-1"),
        _expect_reversed,
    ),
    Case(
        "approve-due",
        DOUBLE_SIDED,
        _two_due,
        lambda shop: shop.program.approve_due(),
        _expect_approved,
    ),
]


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    url = request.getfixturevalue("postgres_database") if request.param == "postgres" else None
    opened = Stores(request.param, tmp_path, url)
    yield opened
    opened.close_all()


@pytest.fixture(scope="module", autouse=True)
def _report_injected() -> Iterator[None]:
    yield
    if INJECTED:
        print("\nfaults injected:", ", ".join(f"{k}={v}" for k, v in sorted(INJECTED.items())))


@dataclass(frozen=True)
class Rehearsal:
    statements: int
    commits: int
    final: Snapshot
    hooks: Counter[str]


def rehearse(stores: Stores, case: Case) -> Rehearsal:
    """A clean run on a scratch store: how many statements and commits, and the end state."""
    shop = stores.shop(case)
    with shop.faults.armed() as faults:
        result = case.call(shop)
    case.expect(shop, result)
    assert faults.statements > 0
    assert faults.commits > 0
    return Rehearsal(faults.statements, faults.commits, normalized(snapshot(shop)), shop.hooks)


def fault_points(rehearsal: Rehearsal) -> list[dict[str, int]]:
    return [{"statement": n} for n in range(1, rehearsal.statements + 1)] + [
        {"commit": n} for n in range(1, rehearsal.commits + 1)
    ]


def _error_of(call: Callable[[], object]) -> BaseException | None:
    try:
        call()
    except Exception as error:
        return error
    return None


# -- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_failed_statement_or_commit_leaves_nothing_and_a_retry_succeeds_once(
    stores: Stores, case: Case
) -> None:
    rehearsal = rehearse(stores, case)
    shop = stores.shop(case)
    before, hooks = snapshot(shop), Counter(shop.hooks)
    fatal = FATAL[stores.kind]
    for point in fault_points(rehearsal):
        with shop.faults.armed(error=fatal, **point) as faults:
            error = _error_of(lambda: case.call(shop))
        assert isinstance(error, refkit.StorageError), (point, error)
        assert faults.injected == 1, point
        # One attempt: the store does not retry this error, and runs nothing after it.
        assert (faults.statements if "statement" in point else faults.commits) == max(
            point.values()
        ), point
        cause = error.__cause__
        assert isinstance(cause, DBAPIError), point
        assert "injected fault" in str(cause.orig), point
        assert snapshot(shop) == before, f"partial write after a fault at {point}"
        assert shop.hooks == hooks, point
        INJECTED[f"{stores.kind} non-retryable"] += 1

    with shop.faults.armed() as faults:  # the retry, clean
        result = case.call(shop)
    assert (faults.statements, faults.commits) == (rehearsal.statements, rehearsal.commits)
    case.expect(shop, result)
    assert normalized(snapshot(shop)) == rehearsal.final
    assert shop.hooks == rehearsal.hooks

    after = snapshot(shop)  # and again: nothing more
    if case.again is None:
        case.call(shop)
    else:
        with pytest.raises(case.again):
            case.call(shop)
    assert snapshot(shop) == after
    assert shop.hooks == rehearsal.hooks


@pytest.mark.parametrize("name", ["conversion-double-sided", "conversion-guest-code"])
def test_faults_reach_every_write_of_a_conversion(stores: Stores, name: str) -> None:
    """The hot path's statements go through the engine, where the faults are injected."""
    case = next(case for case in CASES if case.name == name)
    shop = stores.shop(case)
    with shop.faults.armed() as faults:
        case.call(shop)
    written = "\n".join(faults.seen)
    for table in ("refkit_conversions", "refkit_rewards", "refkit_ledger", "refkit_counters"):
        assert f"INSERT INTO {table}" in written, table
    if name == "conversion-guest-code":  # the guest's code binds them first
        assert "INSERT INTO refkit_referrals" in written


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_retryable_failure_is_retried_transparently(stores: Stores, case: Case) -> None:
    rehearsal = rehearse(stores, case)
    errors = itertools.cycle(RETRYABLE[stores.kind])
    for point in fault_points(rehearsal):
        shop = stores.shop(case)
        with shop.faults.armed(error=next(errors), **point) as faults:
            result = case.call(shop)
        assert faults.injected == 1, point
        case.expect(shop, result)
        assert normalized(snapshot(shop)) == rehearsal.final, point
        assert shop.hooks == rehearsal.hooks, point
        INJECTED[f"{stores.kind} retryable"] += 1


@pytest.mark.postgres
def test_a_commit_refused_by_the_server_leaves_nothing(
    postgres_database: str, tmp_path: Path
) -> None:
    """A real COMMIT failure on PostgreSQL: a deferred constraint trigger that raises."""
    stores = Stores("postgres", tmp_path, postgres_database)
    try:
        for case in CASES:
            shop = stores.shop(case)
            with shop.store.engine.begin() as connection:
                connection.exec_driver_sql(_FAIL_AT_COMMIT_FUNCTION)
                for name in _refkit_tables(connection):
                    if name != "refkit_alembic_version":
                        connection.exec_driver_sql(
                            f"DROP TRIGGER IF EXISTS refkit_test_fail_at_commit ON {name}"
                        )
                        connection.exec_driver_sql(
                            f"CREATE CONSTRAINT TRIGGER refkit_test_fail_at_commit "
                            f"AFTER INSERT OR UPDATE OR DELETE ON {name} "
                            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                            "EXECUTE FUNCTION refkit_test_fail_at_commit()"
                        )
            engine = shop.store.engine

            def refuse(connection: Any) -> None:
                connection.exec_driver_sql("SET LOCAL refkit_test.fail_at_commit = 'on'")

            before = snapshot(shop)
            event.listen(engine, "begin", refuse)
            try:
                with pytest.raises(refkit.StorageError) as raised:
                    case.call(shop)
            finally:
                event.remove(engine, "begin", refuse)
            assert "refused at commit" in str(raised.value), case.name
            assert snapshot(shop) == before, case.name
            INJECTED["postgres refused at commit"] += 1
            case.expect(shop, case.call(shop))
    finally:
        stores.close_all()


_FAIL_AT_COMMIT_FUNCTION = """
CREATE OR REPLACE FUNCTION refkit_test_fail_at_commit() RETURNS trigger AS $$
BEGIN
    IF current_setting('refkit_test.fail_at_commit', true) = 'on' THEN
        RAISE EXCEPTION 'refused at commit (injected fault)';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql
"""
