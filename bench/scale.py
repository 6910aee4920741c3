"""Stats at scale: ``stats_for``, ``leaderboard`` and ``summary`` from 10k to 1M visits.

The targets (absolute, no baseline): with 1M visits, 100k referrals and 100k conversions,
``stats_for`` under 5 ms, ``leaderboard`` and ``summary`` under 500 ms, on an SQLite file and
on PostgreSQL. Size N means N visits, N/10 referrals and N/10 conversions over one year,
shared by N/250 code holders with a Zipf distribution (the top referrer brings about a tenth
of everything), so the cost of each query can be read at 10k, 100k and 1M.

Driving 1M rows through the API would take hours, so :func:`seed` bulk-inserts the rows the
engine would write (executemany batches on SQLite, ``COPY`` on PostgreSQL). They come from
:func:`engine_rows`, which replays the plan with the engine's own decision function
(:func:`refkit.rules.decide`) and its refund and approval arithmetic; :func:`check_seed`
drives the same plan through the public API and compares every table and every answer.
"""

from __future__ import annotations

import functools
import gc
import itertools
import multiprocessing
import random
import re
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine, Table, func, literal, select, text, union_all

from refkit import FrozenClock, ReferralProgram, Reward, RewardRules, SqlStore
from refkit.codes import MAX_NUMBER
from refkit.models import Fingerprint, Referral
from refkit.money import from_minor, to_amount, to_minor
from refkit.program import DEFAULT_FAST_PURCHASE
from refkit.rules import ConversionContext, decide
from refkit.steps.referrers import assign_number
from refkit.storage.migrate import ensure_schema
from refkit.storage.schema import (
    balances,
    conversions,
    counters,
    erasures,
    flags,
    identities,
    ledger,
    referrals,
    referrer_totals,
    referrers,
    rewards,
    signals,
    visits,
)

from .harness import PgLine, Report, Row, best, interleaved, median
from .pg import postgres_url, redacted, scratch_database

__all__ = [
    "FULL_SIZES",
    "QUICK_SIZES",
    "EngineRows",
    "Plan",
    "Reference",
    "answers",
    "check_seed",
    "drive",
    "engine_rows",
    "label",
    "make_plan",
    "memory_probe",
    "reference",
    "reference_for",
    "run",
    "run_sizes",
    "seed",
    "snapshot",
    "timeline",
    "visit_batches",
]

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
RULES = RewardRules(
    referrer_reward=Reward.percent(10),
    referee_reward=Reward.fixed("5", "EUR"),
    hold_period=timedelta(days=30),
)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
START = NOW - timedelta(days=365)
FULL_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
STATS_TARGET_MS = 5.0
AGGREGATE_TARGET_MS = 500.0
STATS_ROUNDS = 60  # stats_for: best of this many calls
AGGREGATE_ROUNDS = 5  # leaderboard, summary: median of this many calls
CHECK_UP_TO = 10_000  # the seed is checked against the API at the smallest size up to this
BATCH = 20_000  # rows per executemany

HOLDERS_PER_VISIT = 250  # one code holder per 250 visits (4,000 at 1M)
MIN_HOLDERS = 20
ZIPF = 1.0
ORGANIC_SHARE = 0.2  # conversions by customers nobody referred
BUYER_SHARE = 0.5  # referees who buy at least once
CAMPAIGNS = ((None, 0.55), ("spring", 0.2), ("newsletter", 0.15), ("partner", 0.1))
SUMMARY_CAMPAIGN = "spring"
CODE_SHARE = 0.15  # referrals typed at checkout (source "code", no fingerprints)
SAME_DEVICE_SHARE = 0.03  # link referrals whose click and signup share IP and user agent
USD_SHARE = 0.1
FULL_REFUND_SHARE = 0.03
PARTIAL_REFUND_SHARE = 0.02
USER_AGENTS = tuple(f"Mozilla/5.0 (bench {i})" for i in range(12))


class Holder(NamedTuple):
    user_id: str
    number: int
    created_at: datetime


class PlannedReferral(NamedTuple):
    referee: str
    referrer: str
    source: str
    campaign: str | None
    at: datetime
    click: Fingerprint | None
    signup: Fingerprint | None


class Order(NamedTuple):
    order_id: str
    customer: str
    amount_minor: int
    currency: str
    at: datetime


class Refund(NamedTuple):
    order_id: str
    amount_minor: int | None  # None: in full
    at: datetime


@dataclass(frozen=True)
class Plan:
    """One data set: who holds a code, who referred whom, who bought what and when.

    Visits are not kept (1M of them would weigh hundreds of MB): :func:`visit_batches`
    regenerates them from ``seed``.
    """

    size: int
    seed: int
    holders: list[Holder]
    cum_weights: list[float]
    referrals: list[PlannedReferral]
    orders: list[Order]  # by time
    refunds: list[Refund]

    @property
    def heavy(self) -> str:
        """The top referrer (Zipf rank 1)."""
        return self.holders[0].user_id

    @property
    def typical(self) -> str:
        """The median referrer by signups among those with at least one."""
        counts = Counter(referral.referrer for referral in self.referrals)
        ranked = sorted(counts, key=lambda user: (counts[user], user))
        return ranked[len(ranked) // 2]


def label(size: int) -> str:
    """10_000 -> "10k", 1_000_000 -> "1M"."""
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def _campaign(rng: random.Random) -> str | None:
    roll = rng.random()
    for name, share in CAMPAIGNS:
        if roll < share:
            return name
        roll -= share
    return None


def make_plan(size: int, seed: int = 2026) -> Plan:
    """A deterministic data set of ``size`` visits (see the module docstring)."""
    rng = random.Random(seed)
    count = max(MIN_HOLDERS, size // HOLDERS_PER_VISIT)
    numbers = rng.sample(range(MAX_NUMBER + 1), count)
    holders = [
        Holder(f"ref-{i:05d}", numbers[i], _between(rng, START, START + timedelta(days=180)))
        for i in range(count)
    ]
    cum_weights = list(itertools.accumulate(1 / (rank + 1) ** ZIPF for rank in range(count)))
    hasher = ReferralProgram(SECRET, "memory://")  # fingerprint() only: the store is not used
    fingerprints: dict[tuple[str, str], Fingerprint] = {}

    def fingerprint(ip: str, agent: str, at: datetime | None) -> Fingerprint:
        hashed = fingerprints.get((ip, agent))
        if hashed is None:
            hashed = fingerprints[ip, agent] = hasher.fingerprint(ip=ip, user_agent=agent)
        return Fingerprint(hashed.ip, hashed.user_agent, at)

    planned: list[PlannedReferral] = []
    picks = rng.choices(range(count), cum_weights=cum_weights, k=size // 10)
    for index, pick in enumerate(picks):
        holder = holders[pick]
        at = _between(rng, holder.created_at, NOW - timedelta(days=1))
        source = "code" if rng.random() < CODE_SHARE else "link"
        click = signup = None
        if source == "link":
            ip = f"203.0.{rng.randrange(64)}.{rng.randrange(256)}"
            agent = rng.choice(USER_AGENTS)
            click = fingerprint(ip, agent, at - timedelta(minutes=rng.uniform(1, 30)))
            if rng.random() >= SAME_DEVICE_SHARE:
                ip = f"198.51.{rng.randrange(64)}.{rng.randrange(256)}"
            signup = fingerprint(ip, agent, None)
        referee = f"cust-{index:07d}"
        planned.append(
            PlannedReferral(referee, holder.user_id, source, _campaign(rng), at, click, signup)
        )
    hasher.store.close()

    total = size // 10
    organic = int(total * ORGANIC_SHARE)
    referred = total - organic
    buyers = rng.sample(planned, min(referred, max(1, int(len(planned) * BUYER_SHARE))))
    per_buyer = Counter(buyer.referee for buyer in buyers)
    per_buyer.update(buyer.referee for buyer in rng.choices(buyers, k=referred - len(buyers)))
    raw: list[tuple[datetime, str]] = []
    for buyer in buyers:
        first = buyer.at + timedelta(hours=1)
        raw += [(_between(rng, first, NOW), buyer.referee) for _ in range(per_buyer[buyer.referee])]
    strangers = max(1, organic * 2 // 3)
    raw += [
        (_between(rng, START, NOW), f"org-{rng.randrange(strangers):07d}") for _ in range(organic)
    ]
    raw.sort()
    orders: list[Order] = []
    refunds: list[Refund] = []
    for index, (at, customer) in enumerate(raw):
        currency = "USD" if rng.random() < USD_SHARE else "EUR"
        amount = max(100, int(rng.lognormvariate(8.3, 0.7)))
        order = Order(f"ord-{index:07d}", customer, amount, currency, at)
        orders.append(order)
        roll = rng.random()
        if roll < FULL_REFUND_SHARE and at + timedelta(days=2) < NOW:
            refunds.append(Refund(order.order_id, None, at + timedelta(days=2)))
        elif roll < FULL_REFUND_SHARE + PARTIAL_REFUND_SHARE and at + timedelta(days=3) < NOW:
            refunds.append(Refund(order.order_id, amount // 2, at + timedelta(days=3)))
    return Plan(size, seed, holders, cum_weights, planned, orders, refunds)


def visit_batches(plan: Plan, batch: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
    """The plan's visits as ``(referrer_id, campaign, visitor, created_at)`` rows, in batches,
    the same every time."""
    rng = random.Random(plan.seed + 1)
    holders, count = plan.holders, len(plan.holders)
    remaining = plan.size
    while remaining:
        n = min(batch, remaining)
        rows = []
        for pick in rng.choices(range(count), cum_weights=plan.cum_weights, k=n):
            holder = holders[pick]
            at = _between(rng, holder.created_at, NOW)
            visitor = None if rng.random() < 0.3 else f"{rng.getrandbits(64):016x}"
            rows.append((holder.user_id, _campaign(rng), visitor, at))
        yield rows
        remaining -= n


def timeline(plan: Plan) -> list[Order | Refund]:
    """Orders and refunds in the order they happen (orders first on a tie)."""
    events: list[Order | Refund] = [*plan.orders, *plan.refunds]
    return sorted(events, key=lambda event: (event.at, isinstance(event, Refund)))


# -- what the engine writes ----------------------------------------------------------------


@dataclass
class EngineRows:
    """Rows per table, in the tables' column order (ids included where the engine's
    autoincrement matters to another table: rewards and ledger)."""

    referrers: list[tuple[Any, ...]] = field(default_factory=list)
    referrals: list[tuple[Any, ...]] = field(default_factory=list)
    signals: list[tuple[Any, ...]] = field(default_factory=list)
    flags: list[tuple[Any, ...]] = field(default_factory=list)
    conversions: list[tuple[Any, ...]] = field(default_factory=list)
    rewards: list[tuple[Any, ...]] = field(default_factory=list)
    ledger: list[tuple[Any, ...]] = field(default_factory=list)


REFERRER_COLUMNS = ("user_id", "number", "created_at")
VISIT_COLUMNS = ("referrer_id", "campaign", "visitor", "created_at")
REFERRAL_COLUMNS = (
    "referee_id", "referrer_id", "source", "campaign", "pair_low", "pair_high", "created_at"
)  # fmt: skip
SIGNAL_COLUMNS = (
    "referee_id", "click_ip", "click_ua", "clicked_at", "signup_ip", "signup_ua", "created_at"
)  # fmt: skip
FLAG_COLUMNS = ("referee_id", "referrer_id", "reason", "created_at", "cleared_at")
CONVERSION_COLUMNS = (
    "order_id", "customer_id", "amount_minor", "refunded_minor", "currency", "referrer_id",
    "campaign", "reasons", "created_at",
)  # fmt: skip
REWARD_COLUMNS = (
    "id", "order_id", "referee_id", "referrer_id", "beneficiary_id", "role", "kind",
    "value_minor", "original_minor", "currency", "status", "created_at", "due_at",
)  # fmt: skip
LEDGER_COLUMNS = (
    "id", "reward_id", "beneficiary_id", "kind", "once_key", "pending_minor", "approved_minor",
    "currency", "created_at",
)  # fmt: skip


@dataclass
class _Reward:
    """A reward row while the replay changes it (fields in :data:`REWARD_COLUMNS` order)."""

    id: int
    order_id: str
    referee_id: str
    referrer_id: str
    beneficiary_id: str
    role: str
    kind: str
    value_minor: int
    original_minor: int
    currency: str | None
    status: str
    created_at: datetime
    due_at: datetime

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in REWARD_COLUMNS)


@dataclass
class _Order:
    """A conversion row while the replay changes it (refunds)."""

    order_id: str
    customer_id: str
    amount_minor: int
    refunded_minor: int
    currency: str
    referrer_id: str | None
    campaign: str | None
    reasons: str
    created_at: datetime

    def row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in CONVERSION_COLUMNS)


class _Replay:
    """The engine's writes, replayed in memory: ``_attribute`` and ``abuse.on_referral``,
    ``_record_conversion`` (with :func:`refkit.rules.decide` itself), ``_refund`` and
    ``approve_due``, step by step as the engine (``refkit/steps/``) does them."""

    def __init__(self, holders: list[Holder]) -> None:
        self.out = EngineRows(referrers=[tuple(holder) for holder in holders])
        self.bound: dict[str, Referral] = {}
        self.clicked: dict[str, datetime] = {}
        self.flagged: dict[tuple[str, str], datetime] = {}
        self.bought: set[str] = set()
        self.roles: dict[str, set[str]] = {}
        self.rewards: list[_Reward] = []
        self.by_order: dict[str, list[_Reward]] = {}
        self.orders: dict[str, _Order] = {}

    def attribute(self, planned: PlannedReferral) -> None:
        referee, referrer, at = planned.referee, planned.referrer, planned.at
        low, high = sorted((referee, referrer))
        self.out.referrals.append(
            (referee, referrer, planned.source, planned.campaign, low, high, at)
        )
        source: Any = planned.source
        self.bound[referee] = Referral(referee, referrer, source, at, planned.campaign)
        click, signup = planned.click, planned.signup
        if click is None and signup is None:
            return
        self.out.signals.append(
            (
                referee,
                click.ip if click else None,
                click.user_agent if click else None,
                click.at if click else None,
                signup.ip if signup else None,
                signup.user_agent if signup else None,
                at,
            )
        )
        if click is not None and click.at is not None:
            self.clicked[referee] = click.at
        if (
            click is not None
            and signup is not None
            and click.ip is not None
            and click.user_agent is not None
            and (click.ip, click.user_agent) == (signup.ip, signup.user_agent)
        ):
            self.flagged.setdefault((referee, "same_device"), at)

    def convert(self, order: Order) -> None:
        customer, at = order.customer, order.at
        referral = self.bound.get(customer)
        clicked = self.clicked.get(customer) if referral is not None else None
        if clicked is not None and timedelta(0) <= at - clicked <= DEFAULT_FAST_PURCHASE:
            self.flagged.setdefault((customer, "fast_purchase"), at)
        context = ConversionContext(
            amount=to_amount(from_minor(order.amount_minor, order.currency)),
            currency=order.currency,
            at=at,
            referral=referral,
            is_first_purchase=customer not in self.bought,
            rewarded_roles=frozenset(self.roles.get(customer, ())),
        )
        decision = decide(RULES, context)
        reasons = list(decision.reasons)
        for plan in decision.rewards:
            assert referral is not None
            currency = plan.currency
            minor = int(plan.value) if currency is None else to_minor(plan.value, currency)
            reward = _Reward(
                len(self.rewards) + 1,
                order.order_id,
                referral.referee_id,
                referral.referrer_id,
                plan.beneficiary_id,
                plan.role,
                plan.kind,
                minor,
                minor,
                currency,
                "pending",
                at,
                at + RULES.hold_period,
            )
            self.rewards.append(reward)
            self.by_order.setdefault(order.order_id, []).append(reward)
            self.roles.setdefault(customer, set()).add(plan.role)
            self._append(reward, "accrued", at, pending=minor)
            reasons.append(f"{plan.role}_rewarded")
        self.bought.add(customer)
        self.orders[order.order_id] = _Order(
            order.order_id,
            customer,
            order.amount_minor,
            0,
            order.currency,
            referral.referrer_id if referral else None,
            referral.campaign if referral else None,
            ",".join(reasons),
            at,
        )

    def refund(self, refund: Refund) -> None:
        order = self.orders[refund.order_id]
        remaining = order.amount_minor - order.refunded_minor
        amount = remaining if refund.amount_minor is None else refund.amount_minor
        if amount == 0:
            return
        order.refunded_minor += amount
        full = order.refunded_minor == order.amount_minor
        for reward in self.by_order.get(order.order_id, []):
            if reward.status not in ("pending", "approved"):
                continue
            if full:
                status = "revoked" if reward.status == "pending" else "reversed"
                self._debit(reward, status, reward.value_minor, refund.at)
                reward.status = status
            elif reward.kind == "percent":
                kept = Decimal(order.amount_minor - order.refunded_minor) / order.amount_minor
                value = int((reward.original_minor * kept).to_integral_value(ROUND_HALF_EVEN))
                reduction = reward.value_minor - value
                if reduction > 0:
                    reward.value_minor = value
                    self._debit(reward, "adjusted", reduction, refund.at)

    def approve_due(self, now: datetime) -> None:
        held = {referee for referee, _ in self.flagged}  # no flag is cleared here
        due = [
            reward
            for reward in self.rewards
            if reward.status == "pending" and reward.due_at <= now and reward.referee_id not in held
        ]
        for reward in sorted(due, key=lambda r: (r.due_at, r.id)):
            reward.status = "approved"
            units = reward.value_minor
            self._append(reward, "approved", now, pending=-units, approved=units)

    def _debit(self, reward: _Reward, kind: str, units: int, at: datetime) -> None:
        if reward.status == "pending":
            self._append(reward, kind, at, pending=-units)
        else:
            self._append(reward, kind, at, approved=-units)

    def _append(
        self, reward: _Reward, kind: str, at: datetime, *, pending: int = 0, approved: int = 0
    ) -> None:
        entries = self.out.ledger
        once = None if kind == "adjusted" else kind
        entries.append(
            (
                len(entries) + 1,
                reward.id,
                reward.beneficiary_id,
                kind,
                once,
                pending,
                approved,
                reward.currency,
                at,
            )
        )

    def rows(self) -> EngineRows:
        out = self.out
        referrer_of = {row[0]: row[1] for row in out.referrals}
        out.flags = [
            (referee, referrer_of[referee], why, at, None)
            for (referee, why), at in self.flagged.items()
        ]
        out.conversions = [order.row() for order in self.orders.values()]
        out.rewards = [reward.row() for reward in self.rewards]
        return out


def engine_rows(plan: Plan) -> EngineRows:
    """What ``attribute``, ``record_conversion``, ``refund`` and one final ``approve_due`` at
    :data:`NOW` write for this plan (visits aside)."""
    replay = _Replay(plan.holders)
    for planned in plan.referrals:
        replay.attribute(planned)
    for event in timeline(plan):
        if isinstance(event, Order):
            replay.convert(event)
        else:
            replay.refund(event)
    replay.approve_due(NOW)
    return replay.rows()


# -- seeding -------------------------------------------------------------------------------


def _naive(value: Any) -> Any:
    """What ``UTCDateTime`` binds: naive UTC."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _load(
    connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    """Insert ``rows`` into ``table``: COPY on PostgreSQL, executemany batches elsewhere."""
    count = 0
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        assert raw is not None
        statement = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
        with raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(tuple(_naive(value) for value in row))
                count += 1
        return count
    insert = table.insert()
    iterator = iter(rows)
    while batch := list(itertools.islice(iterator, BATCH)):
        connection.execute(insert, [dict(zip(columns, row, strict=True)) for row in batch])
        count += len(batch)
    return count


def _totals() -> Any:
    """Each referrer's visits and referrals, as the engine's running totals (shard 0)."""
    counted = union_all(
        select(
            visits.c.referrer_id, func.count().label("visits"), literal(0).label("signups")
        ).group_by(visits.c.referrer_id),
        select(referrals.c.referrer_id, literal(0), func.count()).group_by(referrals.c.referrer_id),
    ).subquery()
    return referrer_totals.insert().from_select(
        ["referrer_id", "shard", "visits", "signups"],
        select(
            counted.c.referrer_id,
            literal(0),
            func.sum(counted.c.visits),
            func.sum(counted.c.signups),
        ).group_by(counted.c.referrer_id),
    )


_TOTALS = _totals()

_BALANCE_KEY = func.coalesce(ledger.c.currency, "")
#: Each user's approved balance by currency, as the engine keeps it (the seed spends nothing).
_BALANCES = balances.insert().from_select(
    ["beneficiary_id", "currency", "balance_minor", "debt_minor"],
    select(ledger.c.beneficiary_id, _BALANCE_KEY, func.sum(ledger.c.approved_minor), literal(0))
    .group_by(ledger.c.beneficiary_id, _BALANCE_KEY)
    .having(func.sum(ledger.c.approved_minor) > 0),
)


def seed(engine: Engine, plan: Plan, rows: EngineRows | None = None) -> dict[str, int]:
    """Create refkit's tables on ``engine`` and fill them with the plan; row counts by table.

    Each table is loaded in its own transaction; on PostgreSQL the id sequences are moved past
    the loaded ids (so the engine's next insert does not collide) and the tables are
    vacuumed and analyzed, as autovacuum would after a bulk load.
    """
    ensure_schema(engine)
    rows = engine_rows(plan) if rows is None else rows
    loads: list[tuple[Table, Sequence[str], Iterable[tuple[Any, ...]]]] = [
        (referrers, REFERRER_COLUMNS, rows.referrers),
        (visits, VISIT_COLUMNS, itertools.chain.from_iterable(visit_batches(plan))),
        (referrals, REFERRAL_COLUMNS, rows.referrals),
        (signals, SIGNAL_COLUMNS, rows.signals),
        (flags, FLAG_COLUMNS, rows.flags),
        (conversions, CONVERSION_COLUMNS, rows.conversions),
        (rewards, REWARD_COLUMNS, rows.rewards),
        (ledger, LEDGER_COLUMNS, rows.ledger),
    ]
    counts: dict[str, int] = {}
    for table, columns, table_rows in loads:
        with engine.begin() as connection:
            counts[table.name] = _load(connection, table, columns, table_rows)
    with engine.begin() as connection:  # the running totals the engine keeps as it writes
        connection.execute(_TOTALS)
        connection.execute(_BALANCES)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            for table in (rewards, ledger):
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                        f"(SELECT max(id) FROM {table.name}))"
                    )
                )
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE"
            )
    else:  # outside a transaction: refkit's SQLite engine begins each one itself
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return counts


# -- the same plan through the API --------------------------------------------------------


def drive(program: ReferralProgram, plan: Plan) -> None:
    """Replay the plan through the public API, one call per event (slow: small plans only)."""
    store = program.store
    for holder in plan.holders:
        # The plan's number, where code_for would draw a random one.
        store.transaction(
            functools.partial(
                assign_number,
                user_id=holder.user_id,
                candidates=functools.partial(int, holder.number),
                at=holder.created_at,
            )
        )
    codes = {holder.user_id: program.code_for(holder.user_id) for holder in plan.holders}
    for batch in visit_batches(plan):
        for referrer, campaign, visitor, at in batch:
            program.record_visit(codes[referrer], campaign=campaign, visitor=visitor, at=at)
    for planned in plan.referrals:
        program.attribute(
            planned.referee,
            codes[planned.referrer],
            source=planned.source,  # type: ignore[arg-type]
            campaign=planned.campaign,
            at=planned.at,
            click=planned.click,
            signup=planned.signup,
        )
    currencies = {order.order_id: order.currency for order in plan.orders}
    for event in timeline(plan):
        if isinstance(event, Order):
            amount = from_minor(event.amount_minor, event.currency)
            program.record_conversion(
                event.order_id, event.customer, amount, event.currency, at=event.at
            )
        else:
            part = event.amount_minor
            refund = None if part is None else from_minor(part, currencies[event.order_id])
            program.refund(event.order_id, refund, at=event.at)
    program.approve_due(NOW, limit=10**9)


def snapshot(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every refkit row, without surrogate ids (a ledger row names its reward by order and
    role), sorted: equal snapshots mean equal data."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in (
            referrers, visits, referrals, signals, flags, conversions, rewards, counters,
            identities, erasures,
        ):  # fmt: skip
            columns = [column for column in table.c if column.name != "id"]
            found = connection.execute(select(*columns)).all()
            out[table.name] = sorted((tuple(row) for row in found), key=repr)
        entries = connection.execute(
            select(
                rewards.c.order_id,
                rewards.c.role,
                *(column for column in ledger.c if column.name not in ("id", "reward_id")),
            ).join(rewards, rewards.c.id == ledger.c.reward_id)
        ).all()
        out[ledger.name] = sorted((tuple(row) for row in entries), key=repr)
        totals = connection.execute(  # summed over the shards each write picks at random
            select(
                referrer_totals.c.referrer_id,
                func.sum(referrer_totals.c.visits),
                func.sum(referrer_totals.c.signups),
            ).group_by(referrer_totals.c.referrer_id)
        ).all()
        out[referrer_totals.name] = sorted((tuple(row) for row in totals), key=repr)
        positive = connection.execute(  # a zero balance row may or may not exist
            select(balances).where((balances.c.balance_minor > 0) | (balances.c.debt_minor > 0))
        ).all()
        out[balances.name] = sorted((tuple(row) for row in positive), key=repr)
    return out


def answers(program: ReferralProgram, plan: Plan) -> dict[str, Any]:
    """Everything the stats API says about the plan's data."""
    return {
        "stats_for": [program.stats_for(holder.user_id) for holder in plan.holders],
        "summary": program.summary(),
        "summary by campaign": [program.summary(campaign=c) for c, _ in CAMPAIGNS if c],
        "summary by period": program.summary(since=NOW - timedelta(days=90), until=NOW),
        "leaderboard": program.leaderboard(limit=50),
        "leaderboard by revenue": program.leaderboard(limit=50, by="revenue"),
    }


@dataclass(frozen=True)
class Reference:
    """The plan driven through the API on the memory store: its tables and answers."""

    plan: Plan
    tables: dict[str, list[tuple[Any, ...]]]
    answers: dict[str, Any]


@functools.lru_cache(maxsize=1)
def reference_for(size: int) -> Reference:
    """:func:`reference` of ``make_plan(size)``, kept for the next caller (the tests)."""
    return reference(make_plan(size))


def reference(plan: Plan) -> Reference:
    """Drive ``plan`` through the API on a memory store and keep what it stored and says."""
    program = ReferralProgram(SECRET, "memory://", RULES, clock=FrozenClock(NOW))
    try:
        drive(program, plan)
        store = program.store
        assert isinstance(store, SqlStore)
        return Reference(plan, snapshot(store.engine), answers(program, plan))
    finally:
        program.store.close()


def check_seed(expected: Reference, program: ReferralProgram) -> list[str]:
    """How a seeded store differs from the API-driven reference (empty: it does not)."""
    store = program.store
    assert isinstance(store, SqlStore)
    problems = []
    tables = snapshot(store.engine)
    for name, rows in expected.tables.items():
        if tables[name] != rows:
            extra = [row for row in tables[name] if row not in rows][:1]
            missing = [row for row in rows if row not in tables[name]][:1]
            problems.append(
                f"{name}: {len(tables[name])} rows, expected {len(rows)}; "
                f"first extra {extra}, first missing {missing}"
            )
    got = answers(program, expected.plan)
    problems += [f"{key} differs" for key, value in expected.answers.items() if got[key] != value]
    return problems


# -- timing --------------------------------------------------------------------------------


def _status_kb(field_name: str) -> int | None:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of this process; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Measured:
    """One store at one size."""

    store: str
    size: int
    seconds_to_seed: float
    counts: dict[str, int]
    db_bytes: int
    times: dict[str, list[float]]  # seconds per call, every round
    rss_growth: int | None  # bytes: peak RSS while the queries run, over RSS before them
    heap_peak: int  # bytes: the largest tracemalloc peak of one query call

    def value_ms(self, query: str) -> float:
        """stats_for: best call (short, noise only adds); aggregates: median call."""
        pick = best if query.startswith("stats_for") else median
        return pick(self.times[query]) * 1000


def _queries(program: ReferralProgram, heavy: str, typical: str) -> dict[str, Callable[[], object]]:
    return {
        "stats_for (heavy)": lambda: program.stats_for(heavy),
        "stats_for (typical)": lambda: program.stats_for(typical),
        "leaderboard": lambda: program.leaderboard(),
        "summary": lambda: program.summary(),
        f"summary (campaign={SUMMARY_CAMPAIGN})": lambda: program.summary(
            campaign=SUMMARY_CAMPAIGN
        ),
    }


def _time(
    program: ReferralProgram, plan: Plan, stats_rounds: int, rounds: int
) -> dict[str, list[float]]:
    queries = _queries(program, plan.heavy, plan.typical)

    def batch(query: Callable[[], object]) -> Callable[[int], int]:
        def run_once(_: int) -> int:
            query()
            return 1

        return run_once

    for query in queries.values():  # warm caches, connections, compiled statements
        query()
    stats = {name: batch(q) for name, q in queries.items() if name.startswith("stats_for")}
    aggregates = {name: batch(q) for name, q in queries.items() if name not in stats}
    times = interleaved(stats, stats_rounds, collect=False)
    return times | interleaved(aggregates, rounds)


def memory_probe(url: str, heavy: str, typical: str) -> tuple[int | None, int]:
    """In a fresh process (see :func:`_memory`): the growth of peak RSS over RSS before the
    first query while each query runs twice (``None`` where /proc cannot tell), and the
    largest tracemalloc peak of one query call, in bytes."""
    program = ReferralProgram(SECRET, url, RULES)
    try:
        program.create_all()
        queries = _queries(program, heavy, typical)
        gc.collect()
        before = _status_kb("VmRSS")
        watching = before is not None and _reset_peak()
        for query in [*queries.values(), *queries.values()]:
            query()
        peak = _status_kb("VmHWM") if watching else None
        growth = None if peak is None or before is None else max(0, peak - before) * 1024
        heap = 0
        for query in queries.values():
            tracemalloc.start()
            try:
                query()
                heap = max(heap, tracemalloc.get_traced_memory()[1])
            finally:
                tracemalloc.stop()
        return growth, heap
    finally:
        program.store.close()


def _memory(url: str, plan: Plan) -> tuple[int | None, int]:
    """:func:`memory_probe` in a new interpreter: this one's heap, grown by the seed and
    freed since, would hide what the queries take."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(memory_probe, url, plan.heavy, plan.typical).result()


def _measure(
    store: str,
    url: str,
    plan: Plan,
    rows: EngineRows,
    check: Reference | None,
    stats_rounds: int,
    rounds: int,
) -> tuple[Measured, list[str] | None]:
    program = ReferralProgram(SECRET, url, RULES, clock=FrozenClock(NOW))
    try:
        sql_store = program.store
        assert isinstance(sql_store, SqlStore)
        engine = sql_store.engine
        start = time.perf_counter()
        counts = seed(engine, plan, rows)
        seconds = time.perf_counter() - start
        problems = None if check is None else check_seed(check, program)
        times = _time(program, plan, stats_rounds, rounds)
        growth, heap = _memory(url, plan)
        if engine.dialect.name == "postgresql":
            with engine.connect() as connection:
                size = connection.execute(select(func.pg_database_size(func.current_database())))
                db_bytes = int(size.scalar_one())
        else:
            path = Path(engine.url.database or "")
            files = (path, path.with_name(path.name + "-wal"))
            db_bytes = sum(file.stat().st_size for file in files if file.exists())
    finally:
        program.store.close()
    measured = Measured(store, plan.size, seconds, counts, db_bytes, times, growth, heap)
    return measured, problems


def run_sizes(
    base_postgres_url: str | None,
    sizes: Sequence[int],
    *,
    stats_rounds: int = STATS_ROUNDS,
    rounds: int = AGGREGATE_ROUNDS,
    sqlite: bool = True,
) -> Report:
    """Seed and time an SQLite file (unless ``sqlite=False``), and PostgreSQL scratch
    databases when a server URL is given, at each size. The smallest size up to
    :data:`CHECK_UP_TO` is also driven through the API, and every seeded store of that size
    must match it."""
    report = Report()
    results: list[Measured] = []
    checked = min((size for size in sizes if size <= CHECK_UP_TO), default=None)
    stores = (["SQLite"] if sqlite else []) + (["PostgreSQL"] if base_postgres_url else [])
    for size in sizes:
        plan = make_plan(size)
        rows = engine_rows(plan)
        expected = reference_for(size) if size == checked else None
        for store in stores:
            if store == "SQLite":
                with tempfile.TemporaryDirectory(prefix="refkit-scale-") as directory:
                    url = f"sqlite:///{directory}/refkit.db"
                    measured, problems = _measure(
                        store, url, plan, rows, expected, stats_rounds, rounds
                    )
            else:
                assert base_postgres_url is not None
                with scratch_database(base_postgres_url) as url:
                    measured, problems = _measure(
                        store, url, plan, rows, expected, stats_rounds, rounds
                    )
            results.append(measured)
            if problems is not None:
                report.lines.append(_check_line(store, size, problems))
        del plan, rows, expected
        gc.collect()
    report.rows += _rows(results)
    report.lines += _growth_lines(results)
    report.notes.append(
        f"scale: size N = N visits, N/10 referrals, N/10 conversions over a year, "
        f"N/{HOLDERS_PER_VISIT} code holders with Zipf(s={ZIPF}) activity (the heavy referrer "
        "is rank 1, the typical one the median by signups); rows are bulk-loaded as the engine "
        "writes them. stats_for: best of "
        f"{stats_rounds} calls; leaderboard and summary: median of {rounds}"
    )
    if base_postgres_url:
        report.notes.append(
            f"scale: PostgreSQL in scratch databases on {redacted(base_postgres_url)}, "
            "VACUUM ANALYZE after the bulk load (what autovacuum does), dropped afterwards"
        )
    return report


def _check_line(store: str, size: int, problems: list[str]) -> PgLine:
    if not problems:
        return PgLine(
            f"scale: the {store} database seeded at {label(size)} matches the same plan driven "
            "through the API (every table, stats_for of every holder, summary, leaderboard)"
        )
    return PgLine(
        f"scale: the {store} database seeded at {label(size)} DIFFERS from the API-driven one: "
        + "; ".join(problems),
        ok=False,
    )


def _rows(results: list[Measured]) -> list[Row]:
    rows = []
    for measured in results:
        for query in measured.times:
            target = STATS_TARGET_MS if query.startswith("stats_for") else AGGREGATE_TARGET_MS
            name = f"scale {label(measured.size)} {measured.store}: {query}"
            rows.append(Row(name, measured.value_ms(query), None, "ms", None, at_most=target))
    return rows


def _mb(value: int | None) -> str:
    if value is None:
        return "?"
    return f"{value / 1e3:,.0f} kB" if value < 1e6 else f"{value / 1e6:,.1f} MB"


def _growth_lines(results: list[Measured]) -> list[PgLine]:
    lines = []
    for store in dict.fromkeys(measured.store for measured in results):
        mine = [measured for measured in results if measured.store == store]
        figures = "; ".join(
            f"{query} " + " / ".join(f"{m.value_ms(query):.2f}" for m in mine) + " ms"
            for query in mine[0].times
        )
        at = " / ".join(label(m.size) for m in mine)
        lines.append(PgLine(f"scale {store} at {at} visits: {figures}"))
        for m in mine:
            counts = ", ".join(
                f"{m.counts[table.name]:,} {table.name.removeprefix('refkit_')}"
                for table in (visits, referrals, conversions, rewards, ledger)
            )
            rss = "RSS not measurable" if m.rss_growth is None else f"RSS +{_mb(m.rss_growth)}"
            lines.append(
                PgLine(
                    f"scale {store} {label(m.size)}: seeded in {m.seconds_to_seed:.1f} s "
                    f"({counts}), database {_mb(m.db_bytes)}; every query twice in a fresh "
                    f"process: {rss}, Python heap peak of one call {_mb(m.heap_peak)}"
                )
            )
    return lines


def run(quick: bool) -> Report:
    """The scale benchmark: 10k and 100k visits (``quick``), or up to 1M."""
    url, note = postgres_url()
    report = run_sizes(url, QUICK_SIZES if quick else FULL_SIZES)
    if url is None:
        report.notes.append(note)
    return report
