"""Rewarded conversions: ``record_conversion`` on an SQLite file, and on PostgreSQL.

SQLite: refkit against a hand-written :mod:`sqlite3` transaction doing the minimal work of a
rewarded conversion with the same durability settings (WAL, ``synchronous=NORMAL``,
``BEGIN IMMEDIATE``): insert the order (``ON CONFLICT DO NOTHING``), read the referral, insert
the referrer's and the referee's rewards under a UNIQUE (referee, role), insert their two
ledger rows, commit. refkit runs the same double-sided rules (two rewards, two ledger rows)
and returns the stored conversion.

PostgreSQL (a scratch database): throughput with 1, 4 and 16 worker threads on their own
referees, scaled against one worker, and all workers hammering the same referees, after which
no (referee, role) may hold more than one reward.
"""

from __future__ import annotations

import random
import sqlite3
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from refkit import ReferralProgram, Reward, RewardRules

from .harness import PgLine, Report, Row, interleaved, median, ratio
from .pg import redacted, scratch_database

__all__ = [
    "PG_FULL",
    "PG_QUICK",
    "SQLITE_FULL",
    "SQLITE_QUICK",
    "PgSizes",
    "SqliteSizes",
    "run_postgres",
    "run_sqlite",
]

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
RULES = RewardRules(referrer_reward=Reward.percent(10), referee_reward=Reward.fixed("5", "EUR"))
AMOUNT, AMOUNT_MINOR, CURRENCY = "49.90", 4990, "EUR"
REFEREE_MINOR = 500  # the referee's fixed 5 EUR
TARGET = 2.5
REFERRERS = 20
BASELINE = "sqlite3 by hand: order + referral read + 2 rewards + 2 ledger rows, one transaction"
SCHEMA_BASELINE = (
    "the same by hand on refkit's own tables (their indexes, constraints, foreign keys): "
    "refkit's code overhead without its schema's"
)


@dataclass(frozen=True)
class SqliteSizes:
    conversions: int  # per round and side
    rounds: int  # interleaved rounds: median round for conv/s, median paired ratio


@dataclass(frozen=True)
class PgSizes:
    conversions: int  # per scenario, split among its workers
    rounds: int  # each worker count runs once per round; the median counts
    threads: tuple[int, ...]  # worker counts; the same-referees check uses the largest
    referees: int  # shared referees in the same-referees check


SQLITE_FULL = SqliteSizes(conversions=100, rounds=15)
SQLITE_QUICK = SqliteSizes(conversions=50, rounds=5)
PG_FULL = PgSizes(conversions=320, rounds=3, threads=(1, 4, 16), referees=80)
PG_QUICK = PgSizes(conversions=160, rounds=1, threads=(1, 4, 16), referees=20)

# -- SQLite --------------------------------------------------------------------------------

_BASELINE_SCHEMA = """
CREATE TABLE orders (
    order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE referrals (referee_id TEXT PRIMARY KEY, referrer_id TEXT NOT NULL);
CREATE TABLE rewards (
    id INTEGER PRIMARY KEY, order_id TEXT NOT NULL, referee_id TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL, role TEXT NOT NULL, value_minor INTEGER NOT NULL,
    currency TEXT, status TEXT NOT NULL, created_at TEXT NOT NULL,
    UNIQUE (referee_id, role));
CREATE TABLE ledger (
    id INTEGER PRIMARY KEY, reward_id INTEGER NOT NULL, beneficiary_id TEXT NOT NULL,
    kind TEXT NOT NULL, pending_minor INTEGER NOT NULL, created_at TEXT NOT NULL);
"""


def _baseline_connection(path: Path) -> sqlite3.Connection:
    """The settings refkit gives its SQLite connections (storage/engines.py)."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA busy_timeout=30000")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _baseline_conversion(connection: sqlite3.Connection, order_id: str, customer: str) -> bool:
    """One rewarded conversion by hand; True if it created both rewards."""
    now = datetime.now(UTC).isoformat()
    connection.execute("BEGIN IMMEDIATE")
    try:
        inserted = connection.execute(
            "INSERT INTO orders (order_id, customer_id, amount_minor, currency, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (order_id, customer, AMOUNT_MINOR, CURRENCY, now),
        ).rowcount
        row = connection.execute(
            "SELECT referrer_id FROM referrals WHERE referee_id = ?", (customer,)
        ).fetchone()
        rewarded = False
        if inserted == 1 and row is not None:
            entries = []
            for role, beneficiary, value in (
                ("referrer", row[0], AMOUNT_MINOR // 10),
                ("referee", customer, REFEREE_MINOR),
            ):
                cursor = connection.execute(
                    "INSERT INTO rewards (order_id, referee_id, beneficiary_id, role, "
                    "value_minor, currency, status, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
                    (order_id, customer, beneficiary, role, value, CURRENCY, now),
                )
                if cursor.rowcount == 1:
                    entries.append((cursor.lastrowid, beneficiary, value, now))
            connection.executemany(
                "INSERT INTO ledger (reward_id, beneficiary_id, kind, pending_minor, "
                "created_at) VALUES (?, ?, 'accrued', ?, ?)",
                entries,
            )
            rewarded = len(entries) == 2
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return rewarded


def _schema_conversion(connection: sqlite3.Connection, order_id: str, customer: str) -> bool:
    """The same conversion by hand on refkit's own tables (their indexes, constraints and
    foreign keys), in refkit's stored formats; True if it created both rewards."""
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(" ")
    connection.execute("BEGIN IMMEDIATE")
    try:
        inserted = connection.execute(
            "INSERT INTO refkit_conversions (order_id, customer_id, amount_minor, "
            "refunded_minor, currency, referrer_id, campaign, reasons, created_at) "
            "SELECT ?, ?, ?, 0, ?, referrer_id, campaign, "
            "'referrer_rewarded,referee_rewarded', ? "
            "FROM refkit_referrals WHERE referee_id = ? ON CONFLICT DO NOTHING",
            (order_id, customer, AMOUNT_MINOR, CURRENCY, now, customer),
        ).rowcount
        row = connection.execute(
            "SELECT referrer_id FROM refkit_referrals WHERE referee_id = ?", (customer,)
        ).fetchone()
        entries = []
        if inserted == 1 and row is not None:
            for role, beneficiary, value, kind in (
                ("referrer", row[0], AMOUNT_MINOR // 10, "percent"),
                ("referee", customer, REFEREE_MINOR, "fixed"),
            ):
                values = (order_id, customer, row[0], beneficiary, role, kind, value, value)
                cursor = connection.execute(
                    "INSERT INTO refkit_rewards (order_id, referee_id, referrer_id, "
                    "beneficiary_id, role, kind, value_minor, original_minor, currency, "
                    "status, created_at, due_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT DO NOTHING",
                    (*values, CURRENCY, now, now),
                )
                if cursor.rowcount == 1:
                    entries.append((cursor.lastrowid, beneficiary, value, CURRENCY, now))
            connection.executemany(
                "INSERT INTO refkit_ledger (reward_id, beneficiary_id, kind, once_key, "
                "pending_minor, approved_minor, currency, created_at) "
                "VALUES (?, ?, 'accrued', 'accrued', ?, 0, ?, ?)",
                entries,
            )
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return len(entries) == 2


def run_sqlite(sizes: SqliteSizes = SQLITE_FULL) -> Report:
    """Conversions per second on both sides, median of several interleaved rounds."""
    with tempfile.TemporaryDirectory(prefix="refkit-bench-") as directory:
        program = ReferralProgram(SECRET, f"sqlite:///{directory}/refkit.db", RULES)
        twin = ReferralProgram(SECRET, f"sqlite:///{directory}/by-hand.db", RULES)
        connection = _baseline_connection(Path(directory) / "baseline.db")
        by_hand = _baseline_connection(Path(directory) / "by-hand.db")
        by_hand.execute("PRAGMA foreign_keys=ON")
        try:
            return _run_sqlite(program, connection, twin, by_hand, sizes)
        finally:
            connection.close()
            by_hand.close()
            program.store.close()
            twin.store.close()


def _run_sqlite(
    program: ReferralProgram,
    connection: sqlite3.Connection,
    twin: ReferralProgram,
    by_hand: sqlite3.Connection,
    sizes: SqliteSizes,
) -> Report:
    count, rounds = sizes.conversions, sizes.rounds
    # Setup, not timed: referrers, a few warm-up referees, and ``count`` per round.
    batches = [[f"warm-{i}" for i in range(10)]]
    batches += [[f"r{r}-{i}" for i in range(count)] for r in range(rounds)]
    _bind(program, [referee for batch in batches for referee in batch])
    _bind(twin, [referee for batch in batches for referee in batch])
    connection.executescript(_BASELINE_SCHEMA)
    connection.execute("BEGIN IMMEDIATE")
    connection.executemany(
        "INSERT INTO referrals VALUES (?, ?)",
        [
            (referee, f"referrer-{i % REFERRERS}")
            for batch in batches
            for i, referee in enumerate(batch)
        ],
    )
    connection.execute("COMMIT")
    warmup, batches = batches[0], batches[1:]

    def subject(index: int) -> int:
        for referee in batches[index]:
            stored = program.record_conversion(f"o-{referee}", referee, AMOUNT, CURRENCY)
            if len(stored.rewards) != 2:
                raise AssertionError(f"expected 2 rewards, got {stored.rewards}")
        return len(batches[index])

    def baseline(index: int) -> int:
        for referee in batches[index]:
            if not _baseline_conversion(connection, f"o-{referee}", referee):
                raise AssertionError("the baseline created no reward")
        return len(batches[index])

    def schema(index: int) -> int:
        for referee in batches[index]:
            if not _schema_conversion(by_hand, f"o-{referee}", referee):
                raise AssertionError("the by-hand conversion created no reward")
        return len(batches[index])

    for referee in warmup:
        program.record_conversion(f"o-{referee}", referee, AMOUNT, CURRENCY)
        _baseline_conversion(connection, f"o-{referee}", referee)
        _schema_conversion(by_hand, f"o-{referee}", referee)
    times = interleaved({"refkit": subject, "baseline": baseline, "schema": schema}, rounds)
    mine = median(times["refkit"])
    rows = [
        Row(
            "conversion: SQLite file",
            1 / mine,
            1 / median(times["baseline"]),
            "conv/s",
            ratio(times["refkit"], times["baseline"]),
            TARGET,
            BASELINE,
        ),
        Row(
            "conversion: same, on refkit's schema",
            1 / mine,
            1 / median(times["schema"]),
            "conv/s",
            ratio(times["refkit"], times["schema"]),
            None,
            SCHEMA_BASELINE,
        ),
    ]
    return Report(rows=rows)


def _bind(program: ReferralProgram, referees: Sequence[str], workers: int = 1) -> None:
    """Bind each referee to one of :data:`REFERRERS` referrers (setup, not timed)."""
    codes = [program.code_for(f"referrer-{i}") for i in range(REFERRERS)]

    def bind(item: tuple[int, str]) -> None:
        program.attribute(item[1], codes[item[0] % REFERRERS])

    if workers == 1:
        for item in enumerate(referees):
            bind(item)
        return
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(bind, enumerate(referees)))


# -- PostgreSQL ----------------------------------------------------------------------------


def run_postgres(base_url: str, sizes: PgSizes = PG_FULL) -> Report:
    """Throughput per worker count, and the same-referees check, in a scratch database."""
    pool = max(sizes.threads) + 2
    with scratch_database(base_url) as url:
        engine = create_engine(url, pool_size=pool, max_overflow=0, pool_pre_ping=True)
        try:
            program = ReferralProgram(SECRET, engine, RULES)
            report = _run_postgres(program, engine, sizes)
        finally:
            engine.dispose()
    report.notes.append(
        f"PostgreSQL: scratch database on {redacted(base_url)}, dropped afterwards; the engine "
        f"has pool_size={pool} so no worker waits for a connection"
    )
    return report


def _run_postgres(program: ReferralProgram, engine: Engine, sizes: PgSizes) -> Report:
    counts, most = sizes.threads, max(sizes.threads)
    own = {
        (r, t): [f"p{r}-{t}-{i}" for i in range(sizes.conversions)]
        for r in range(sizes.rounds)
        for t in counts
    }
    shared = [f"shared-{i}" for i in range(sizes.referees)]
    warmup = [f"warm-{i}" for i in range(2 * most)]
    _bind(program, [*warmup, *shared, *(x for batch in own.values() for x in batch)], workers=8)
    _drive(program, _split([(f"o-{x}", x) for x in warmup], most))  # opens every connection

    rates: dict[int, list[float]] = {t: [] for t in counts}
    failures: list[str] = []
    for r in range(sizes.rounds):
        for t in counts if r % 2 == 0 else counts[::-1]:
            elapsed, errors = _drive(program, _split([(f"o-{x}", x) for x in own[r, t]], t))
            rates[t].append(len(own[r, t]) / elapsed)
            failures += errors
    report = Report()
    single = median(rates[1]) if 1 in rates else None
    for t in counts:
        rate = median(rates[t])
        scale = f"  (x{rate / single:.2f} vs 1 worker)" if single else ""
        plural = "worker " if t == 1 else "workers"
        report.lines.append(PgLine(f"PostgreSQL, {t:>2} {plural}: {rate:>7,.0f} conv/s{scale}"))
    expected = 2 * sum(len(batch) for batch in own.values())
    stored = _scalar(engine, "SELECT count(*) FROM refkit_rewards WHERE referee_id LIKE 'p%'")
    if failures or stored != expected:
        report.lines.append(
            PgLine(f"PostgreSQL: {len(failures)} errors, {stored}/{expected} rewards", ok=False)
        )
    report.lines.append(_hammer(program, engine, shared, most))
    return report


def _hammer(program: ReferralProgram, engine: Engine, shared: list[str], workers: int) -> PgLine:
    """Every worker converts every shared referee, in its own shuffled order; even workers
    replay one shared order id per referee, odd ones send their own order ids."""
    jobs = []
    for w in range(workers):
        order = random.Random(w).sample(shared, len(shared))
        jobs.append([(f"s-{x}" if w % 2 == 0 else f"o{w}-{x}", x) for x in order])
    elapsed, errors = _drive(program, jobs)
    with engine.connect() as connection:
        counts = connection.execute(
            text(
                "SELECT count(*) FROM refkit_rewards WHERE referee_id LIKE 'shared-%' "
                "GROUP BY referee_id, role"
            )
        ).scalars()
        per_pair = list(counts)
    duplicates = sum(n - 1 for n in per_pair)
    missing = 2 * len(shared) - len(per_pair)
    calls = workers * len(shared)
    text_ = (
        f"PostgreSQL, same referees: {workers} workers x {len(shared)} referees, "
        f"{calls / elapsed:,.0f} calls/s; duplicate rewards: {duplicates}"
    )
    if missing or errors:
        text_ += f"; MISSING rewards: {missing}; errors: {len(errors)} {errors[:1]}"
    return PgLine(text_, ok=not (duplicates or missing or errors))


def _split(items: list[tuple[str, str]], parts: int) -> list[list[tuple[str, str]]]:
    return [items[i::parts] for i in range(parts)]


def _drive(program: ReferralProgram, jobs: list[list[tuple[str, str]]]) -> tuple[float, list[str]]:
    """Run each job (``(order_id, customer)`` pairs) on its own thread, all starting together.
    Returns the wall-clock seconds and the errors raised."""
    barrier = threading.Barrier(len(jobs) + 1)
    errors: list[str] = []

    def work(job: list[tuple[str, str]]) -> None:
        barrier.wait()
        for order_id, customer in job:
            try:
                program.record_conversion(order_id, customer, AMOUNT, CURRENCY)
            except Exception as error:
                errors.append(f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=work, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, errors


def _scalar(engine: Engine, query: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(query)).scalar_one())
