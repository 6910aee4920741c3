"""The friend's discount: ``offer_for`` (a read) and ``claim_discount`` (a write), on an SQLite
file and on PostgreSQL, each against a hand-written baseline doing the same work on refkit's
own tables (their indexes, constraints, foreign keys), with the same floor as conversions.

``offer_for`` by hand, one read transaction: the referral, whether the customer bought before,
the roles rewarded already, whether another claim holds the referee's slot; the discount
computed in Python. ``claim_discount`` by hand, one write transaction (``BEGIN IMMEDIATE`` on
SQLite): the order's claim, lapsing the referee's stale claims, the same reads as the offer,
``INSERT ... ON CONFLICT DO NOTHING`` of the claim (UNIQUE slot, UNIQUE order), read it back,
commit. Every claim is for a new referee, so every call reserves a discount.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from refkit import ReferralProgram, Reward, RewardRules

from .conversions import TARGET, _baseline_connection, _bind
from .harness import Report, Row, interleaved, median, ratio
from .pg import redacted, scratch_database

__all__ = ["FULL", "QUICK", "Sizes", "run_postgres", "run_sqlite"]

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
RULES = RewardRules(referrer_reward=Reward.percent(10), referee_discount=Reward.fixed("5", "EUR"))
AMOUNT, AMOUNT_MINOR, CURRENCY, DISCOUNT_MINOR = "49.90", 4990, "EUR", 500
TTL = timedelta(hours=1)
OFFER_BASELINE = (
    "the same read by hand on refkit's tables: referral, bought before, roles rewarded, "
    "slot held; one transaction"
)
CLAIM_BASELINE = (
    "the same write by hand on refkit's tables: order's claim, lapse, the offer's reads, "
    "INSERT ON CONFLICT DO NOTHING, read back; one transaction"
)

#: Run ``sql`` (``?`` placeholders) with ``params``; returns a DB-API cursor.
Query = Callable[[str, Sequence[Any]], Any]


@dataclass(frozen=True)
class Sizes:
    calls: int  # per round and side
    rounds: int  # interleaved rounds: median paired ratio


FULL = Sizes(calls=100, rounds=15)
QUICK = Sizes(calls=50, rounds=5)


def _offer_reads(q: Query, customer: str, now: Any, order_id: str | None) -> int:
    """The offer's reads; the discount in minor units (0 when none)."""
    row = q("SELECT referrer_id FROM refkit_referrals WHERE referee_id = ?", (customer,)).fetchone()
    bought = q(
        "SELECT EXISTS (SELECT 1 FROM refkit_conversions WHERE customer_id = ?)", (customer,)
    ).fetchone()[0]
    roles = {r[0] for r in q("SELECT role FROM refkit_rewards WHERE referee_id = ?", (customer,))}
    taken = q(
        "SELECT EXISTS (SELECT 1 FROM refkit_discount_claims WHERE slot = ? "
        "AND order_id != ? AND (status != 'live' OR expires_at > ?))",
        (customer, order_id or "", now),
    ).fetchone()[0]
    if row is None or bought or "referee" in roles or taken:
        return 0
    return min(DISCOUNT_MINOR, AMOUNT_MINOR)


def _claim(q: Query, customer: str, order_id: str, now: Any, expires: Any) -> int:
    """The claim's work, inside an open transaction; the discount reserved (minor units)."""
    q("SELECT * FROM refkit_discount_claims WHERE order_id = ?", (order_id,)).fetchall()
    q(
        "UPDATE refkit_discount_claims SET status = 'lapsed', slot = NULL "
        "WHERE referee_id = ? AND status = 'live' AND expires_at <= ?",
        (customer, now),
    )
    discount = _offer_reads(q, customer, now, order_id)
    referrer = q(
        "SELECT referrer_id FROM refkit_referrals WHERE referee_id = ?", (customer,)
    ).fetchone()
    if not discount or referrer is None:
        return 0
    q(
        "INSERT INTO refkit_discount_claims (order_id, referee_id, referrer_id, slot, status, "
        "amount_minor, discount_minor, currency, created_at, expires_at) "
        "VALUES (?, ?, ?, ?, 'live', ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (order_id, customer, referrer[0], customer, AMOUNT_MINOR, discount, CURRENCY, now, expires),
    )
    row = q(
        "SELECT discount_minor FROM refkit_discount_claims WHERE order_id = ?", (order_id,)
    ).fetchone()
    return int(row[0])


# -- SQLite --------------------------------------------------------------------------------


def _sqlite_now() -> tuple[str, str]:
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.isoformat(" "), (now + TTL).isoformat(" ")


def _sqlite_offer(connection: sqlite3.Connection, customer: str) -> int:
    connection.execute("BEGIN")
    try:
        return _offer_reads(connection.execute, customer, _sqlite_now()[0], None)
    finally:
        connection.execute("COMMIT")


def _sqlite_claim(connection: sqlite3.Connection, customer: str, order_id: str) -> int:
    connection.execute("BEGIN IMMEDIATE")
    try:
        discount = _claim(connection.execute, customer, order_id, *_sqlite_now())
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    return discount


def run_sqlite(sizes: Sizes = FULL) -> Report:
    """``offer_for`` and ``claim_discount`` per second against the by-hand baselines."""
    with tempfile.TemporaryDirectory(prefix="refkit-bench-") as directory:
        program = ReferralProgram(SECRET, f"sqlite:///{directory}/refkit.db", RULES)
        twin = ReferralProgram(SECRET, f"sqlite:///{directory}/by-hand.db", RULES)
        by_hand = _baseline_connection(Path(directory) / "by-hand.db")
        by_hand.execute("PRAGMA foreign_keys=ON")
        try:
            offer = _sqlite_offer
            claim = _sqlite_claim
            return _measure(
                program, twin, lambda c: offer(by_hand, c), lambda c, o: claim(by_hand, c, o), sizes
            )
        finally:
            by_hand.close()
            program.store.close()
            twin.store.close()


# -- PostgreSQL ----------------------------------------------------------------------------


def run_postgres(base_url: str, sizes: Sizes = FULL) -> Report:
    """The same two rows on PostgreSQL (one worker), in a scratch database: refkit and the
    by-hand side use the same tables, on their own referees."""
    with scratch_database(base_url) as url:
        engine = create_engine(url, pool_size=2, max_overflow=0)
        raw = engine.raw_connection()
        try:
            program = ReferralProgram(SECRET, engine, RULES)
            cursor = raw.cursor()

            def q(sql: str, params: Sequence[Any]) -> Any:
                cursor.execute(sql.replace("?", "%s"), tuple(params))
                return cursor

            def offer(customer: str) -> int:
                try:
                    return _offer_reads(q, customer, datetime.now(UTC), None)
                finally:
                    raw.commit()

            def claim(customer: str, order_id: str) -> int:
                now = datetime.now(UTC)
                try:
                    discount = _claim(q, customer, order_id, now, now + TTL)
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
                return discount

            report = _measure(program, program, offer, claim, sizes, label="PostgreSQL")
        finally:
            raw.close()
            engine.dispose()
    report.notes.append(
        f"Discounts on PostgreSQL: scratch database on {redacted(base_url)}, one worker, "
        "dropped afterwards"
    )
    return report


# -- both ----------------------------------------------------------------------------------


def _measure(
    program: ReferralProgram,
    twin: ReferralProgram,
    offer: Callable[[str], int],
    claim: Callable[[str, str], int],
    sizes: Sizes,
    label: str = "SQLite file",
) -> Report:
    count, rounds = sizes.calls, sizes.rounds
    # Setup, not timed: referees bound to referrers; each claim uses a new referee.
    offered = [f"offer-{i}" for i in range(count)]
    mine = [[f"c{r}-{i}" for i in range(count)] for r in range(rounds + 1)]
    theirs = [[f"h{r}-{i}" for i in range(count)] for r in range(rounds + 1)]
    _bind(program, [*offered, *(x for batch in mine for x in batch)])
    shared = [] if twin is program else offered  # the by-hand side reads its own copy
    _bind(twin, [*shared, *(x for batch in theirs for x in batch)])

    def refkit_offer(index: int) -> int:
        for customer in offered:
            if program.offer_for(customer, AMOUNT, CURRENCY).discount <= 0:
                raise AssertionError("refkit offered no discount")
        return count

    def hand_offer(index: int) -> int:
        for customer in offered:
            if offer(customer) != DISCOUNT_MINOR:
                raise AssertionError("the by-hand offer gave no discount")
        return count

    def refkit_claim(index: int) -> int:
        for customer in mine[index + 1]:
            if program.claim_discount(f"o-{customer}", customer, AMOUNT, CURRENCY).discount <= 0:
                raise AssertionError("refkit reserved no discount")
        return count

    def hand_claim(index: int) -> int:
        for customer in theirs[index + 1]:
            if claim(customer, f"o-{customer}") != DISCOUNT_MINOR:
                raise AssertionError("the by-hand claim reserved no discount")
        return count

    for customer in mine[0][:10]:  # warm-up
        program.claim_discount(f"o-{customer}", customer, AMOUNT, CURRENCY)
        program.offer_for(customer, AMOUNT, CURRENCY)
    for customer in theirs[0][:10]:
        claim(customer, f"o-{customer}")
        offer(customer)
    reads = interleaved({"refkit": refkit_offer, "baseline": hand_offer}, rounds)
    writes = interleaved({"refkit": refkit_claim, "baseline": hand_claim}, rounds)
    rows = [
        Row(
            f"discount: offer_for, {label}",
            1 / median(reads["refkit"]),
            1 / median(reads["baseline"]),
            "calls/s",
            ratio(reads["refkit"], reads["baseline"]),
            TARGET,
            OFFER_BASELINE,
        ),
        Row(
            f"discount: claim_discount, {label}",
            1 / median(writes["refkit"]),
            1 / median(writes["baseline"]),
            "calls/s",
            ratio(writes["refkit"], writes["baseline"]),
            TARGET,
            CLAIM_BASELINE,
        ),
    ]
    return Report(rows=rows)
