"""refkit's tables: one SQLAlchemy Core schema for every dialect.

Every single-reward rule lives here as a constraint, so no code path (ours, a second process,
a hand-written SQL statement) can break it:

* one referrer per referee: ``refkit_referrals.referee_id`` is the primary key;
* no self-referral: a CHECK; no two-person cycle: a unique unordered pair (``pair_low``,
  ``pair_high``), so "A refers B" and "B refers A" cannot both exist;
* one reward per role per referee: UNIQUE (``referee_id``, ``role``, ``slot``) on
  ``refkit_rewards``, where every reward holds slot 0 unless an earlier-dated order took it
  over while it was pending (it is then revoked and moved to the slot of its own id: a CHECK);
* one level only: a referrer reward's beneficiary must be the referee's own referrer, checked by
  a CHECK on the role and a composite foreign key to the referral;
* idempotent orders: ``refkit_conversions.order_id`` is the primary key;
* money as integer minor units with range CHECKs: no float, NaN or infinity can be stored;
* a transition happens once: UNIQUE (``reward_id``, ``once_key``) on the append-only ledger.

Revision 0002 adds the abuse and privacy tables: ``refkit_identities`` (a keyed hash of each
user's normalized email), ``refkit_flags`` (referrals waiting for review), ``refkit_signals``
(keyed hashes of the click's and the signup's IP address and user agent, purged after the
retention window) and ``refkit_erasures`` (the pseudonyms of erased users).

Revision 0003 makes the stats queries (:mod:`refkit.reports`) read indexes only, never the
tables, for one referrer and for the leaderboard: ``ix_refkit_conversions_referrer_net``
(referrer, currency and amounts), and two indexes widened with the columns those queries read,
``ix_refkit_rewards_beneficiary`` (+ currency and value) and ``ix_refkit_referrals_referrer``
(+ referee, for the open-flags check).

Revision 0004 adds ``refkit_referrer_totals``: running counts of each referrer's visits and
referrals, so ``stats_for`` does not count a busy referrer's visits one by one; and the
referrer on each flag, so it counts only that referrer's open flags.

Revision 0008 lets credit be spent: ledger entries of kinds ``redeemed``, ``paid_out`` and
``expired`` (no reward, a negative approved amount, a unique ``reference`` for the first two)
and ``refkit_balances``, one row per user and currency (``''`` for points) kept in the
transaction of every ledger entry that changes an approved balance. Its CHECK keeps
``balance_minor`` and ``debt_minor`` non-negative and never both positive: spending is a
conditional ``UPDATE ... WHERE balance_minor >= :amount``, so no number of concurrent calls,
and no hand-written statement, can take a balance below zero; a reversal after the credit was
spent turns the shortfall into ``debt_minor``, which later credit pays first.

Revision 0009 lets an earlier-dated order take over a referee's pending rewards
(``first_purchase_only`` follows the orders' ``at``): ``refkit_rewards.slot``, 0 for the reward
that holds its role, the reward's own id for one that was taken over (revoked, by a CHECK), and
the one-per-role constraint widened to (``referee_id``, ``role``, ``slot``), so the database
still keeps one reward per role per referee in slot 0 under any concurrency.

Revision 0010 lets a reward belong to no order: a milestone bonus (``milestone``, the
milestone's count; UNIQUE (``referrer_id``, ``milestone``), so it is paid once per referrer
and milestone) and a reward granted by hand (``role = 'grant'``, with a UNIQUE
``reference`` and its ``reason``). The ``origin`` CHECK keeps the three shapes apart: an
order's reward has its order and referee; a bonus and a grant have neither, and a bonus is
always the referrer's own (``beneficiary_id = referrer_id``).

Revision 0011 adds ``variant`` to ``refkit_visits`` and ``refkit_referrals``: the A/B test
variant (:class:`refkit.Experiment`) a visitor was shown and a referee was bound with.

Revision 0013 makes the three unique keys of columns that most rows leave NULL partial unique
indexes, under the same names: ``uq_refkit_rewards_milestone`` (``referrer_id``,
``milestone``) and ``uq_refkit_rewards_reference`` on the rewards, ``uq_refkit_ledger_reference``
on the ledger, each ``WHERE`` its last column ``IS NOT NULL``. They refuse the same rows (NULLs
never conflicted), but an order's rewards and their ledger entries, which leave those columns
NULL, no longer write an entry into them.

Revision 0014 does the same for three plain indexes: the referrer's two on
``refkit_conversions`` (``ix_refkit_conversions_referrer`` and the covering
``ix_refkit_conversions_referrer_net``) leave out the orders nobody referred, and
``ix_refkit_visits_channel`` the visits without a channel. Every query on them names a
referrer or a channel, or asks for referred orders only, which lets the databases use them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "SCHEMA_VERSION",
    "TOTAL_SHARDS",
    "balances",
    "conversions",
    "counters",
    "discount_claims",
    "erasures",
    "flags",
    "identities",
    "keyring",
    "ledger",
    "metadata",
    "operations",
    "referrals",
    "referrer_totals",
    "referrers",
    "revoked_codes",
    "rewards",
    "signals",
    "visits",
]

#: The Alembic revision this metadata matches (see ``storage/migrations``).
SCHEMA_VERSION = "0014"
MAX_MINOR = 10**16  # 10^12 major units with up to four decimals (CLF, UYW)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, stored naive-UTC everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        result: datetime = value.replace(tzinfo=UTC)
        return result

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, the text SQLAlchemy's ``DATETIME`` stores (``2026-12-06 10:05:57.105542``,
        always six digits of microseconds) written by ``datetime.isoformat`` in one C call:
        the dialect's own processor formats a dict of the fields through ``%``, about four
        times slower, on every date of every hot-path statement."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process


naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=naming_convention)

_ID = 255


def _where_set(name: str, *columns: str, column: str, unique: bool = False) -> Index:
    """An index of ``columns`` over the rows whose ``column`` is set: a partial index
    (revisions 0013 and 0014).

    SQLite and PostgreSQL write an index entry for every row, NULL keys included (and NULLs
    never conflict in a unique one). Most rows leave these columns NULL: every order's reward
    and every reward's ledger entry (no milestone, no reference), the orders nobody referred,
    the visits without a channel. The partial index has no entry for them, so the hot paths
    write less, and every query on it names a value or asks for ``IS NOT NULL``, which lets
    the databases use it. A unique one refuses the same rows as a constraint would, and
    answers ``INSERT ... ON CONFLICT DO NOTHING`` (no conflict target) as one.
    """
    where = text(f"{column} IS NOT NULL")
    return Index(name, *columns, unique=unique, sqlite_where=where, postgresql_where=where)


def _money_check(column: str) -> CheckConstraint:
    return CheckConstraint(f"{column} >= 0 AND {column} <= {MAX_MINOR}", name=f"{column}_range")


referrers = Table(
    "refkit_referrers",
    metadata,
    Column("user_id", String(_ID), primary_key=True),
    Column("number", Integer, nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    CheckConstraint("number >= 0 AND number < 8388608", name="number_range"),
)

visits = Table(
    "refkit_visits",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("referrer_id", String(_ID), ForeignKey("refkit_referrers.user_id"), nullable=False),
    Column("campaign", String(100)),
    Column("visitor", String(128)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("channel", String(32)),
    Column("utm_source", String(100)),
    Column("utm_medium", String(100)),
    Column("utm_campaign", String(100)),
    Column("variant", String(64)),
    Index("ix_refkit_visits_referrer", "referrer_id", "created_at"),
    Index("ix_refkit_visits_created", "created_at"),
    Index("ix_refkit_visits_campaign", "campaign", "created_at"),
    _where_set("ix_refkit_visits_channel", "channel", "created_at", column="channel"),
)

referrals = Table(
    "refkit_referrals",
    metadata,
    Column("referee_id", String(_ID), primary_key=True),
    Column("referrer_id", String(_ID), ForeignKey("refkit_referrers.user_id"), nullable=False),
    Column("source", String(16), nullable=False),
    Column("campaign", String(100)),
    Column("pair_low", String(_ID), nullable=False),
    Column("pair_high", String(_ID), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("channel", String(32)),
    Column("utm_source", String(100)),
    Column("utm_medium", String(100)),
    Column("utm_campaign", String(100)),
    Column("variant", String(64)),
    CheckConstraint("referee_id <> referrer_id", name="not_self"),
    CheckConstraint("source IN ('link', 'code', 'staff')", name="source"),
    CheckConstraint(
        "(pair_low = referee_id AND pair_high = referrer_id) OR "
        "(pair_low = referrer_id AND pair_high = referee_id)",
        name="pair",
    ),
    UniqueConstraint("pair_low", "pair_high", name="uq_refkit_referrals_pair"),
    UniqueConstraint("referee_id", "referrer_id", name="uq_refkit_referrals_binding"),
    Index("ix_refkit_referrals_referrer", "referrer_id", "created_at", "referee_id"),
    Index("ix_refkit_referrals_created", "created_at"),
)

conversions = Table(
    "refkit_conversions",
    metadata,
    Column("order_id", String(_ID), primary_key=True),
    Column("customer_id", String(_ID), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("refunded_minor", BigInteger, nullable=False, server_default="0"),
    Column("currency", String(3), nullable=False),
    Column("referrer_id", String(_ID)),
    Column("campaign", String(100)),
    Column("reasons", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("channel", String(32)),
    _money_check("amount_minor"),
    CheckConstraint("refunded_minor >= 0 AND refunded_minor <= amount_minor", name="refund"),
    CheckConstraint("length(currency) = 3", name="currency"),
    # An order nobody referred, the common case, is in neither of the referrer's indexes.
    _where_set("ix_refkit_conversions_referrer", "referrer_id", "created_at", column="referrer_id"),
    # stats_for, leaderboard and summary sum a referrer's orders by currency from the index alone
    _where_set(
        "ix_refkit_conversions_referrer_net",
        "referrer_id",
        "currency",
        "amount_minor",
        "refunded_minor",
        column="referrer_id",
    ),
    Index("ix_refkit_conversions_customer", "customer_id", "created_at"),
    Index("ix_refkit_conversions_created", "created_at"),
)

#: A reward's three shapes (revision 0010): an order's, a milestone bonus, a grant.
REWARD_ORIGIN = (
    "(order_id IS NOT NULL AND referee_id IS NOT NULL AND role IN ('referrer', 'referee') "
    "AND milestone IS NULL AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'referrer' "
    "AND milestone IS NOT NULL AND milestone >= 1 AND reference IS NULL AND reason IS NULL) OR "
    "(order_id IS NULL AND referee_id IS NULL AND role = 'grant' "
    "AND milestone IS NULL AND reference IS NOT NULL)"
)

rewards = Table(
    "refkit_rewards",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(_ID), ForeignKey("refkit_conversions.order_id")),
    Column("referee_id", String(_ID)),
    Column("referrer_id", String(_ID), nullable=False),
    Column("beneficiary_id", String(_ID), nullable=False),
    Column("role", String(8), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("value_minor", BigInteger, nullable=False),
    Column("original_minor", BigInteger, nullable=False),
    Column("currency", String(3)),
    Column("status", String(8), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    # 0: the referee's reward for this role (live, refunded or revoked: it holds the role for
    # good); the reward's own id once an earlier-dated order took it over (revision 0009)
    Column("slot", Integer, nullable=False, server_default="0"),
    # revision 0010: a milestone bonus's count, a grant's reference and reason
    Column("milestone", Integer),
    Column("reference", String(_ID)),
    Column("reason", String(_ID)),
    ForeignKeyConstraint(
        ["referee_id", "referrer_id"],
        ["refkit_referrals.referee_id", "refkit_referrals.referrer_id"],
        name="fk_refkit_rewards_referral",
    ),
    UniqueConstraint("referee_id", "role", "slot", name="uq_refkit_rewards_one_per_role"),
    CheckConstraint("slot = 0 OR (slot = id AND status = 'revoked')", name="slot"),
    CheckConstraint(
        "(role = 'referrer' AND beneficiary_id = referrer_id) OR "
        "(role = 'referee' AND beneficiary_id = referee_id) OR "
        "(role = 'grant' AND beneficiary_id = referrer_id)",
        name="one_level",
    ),
    CheckConstraint(REWARD_ORIGIN, name="origin"),
    _where_set(
        "uq_refkit_rewards_milestone", "referrer_id", "milestone", column="milestone", unique=True
    ),
    _where_set("uq_refkit_rewards_reference", "reference", column="reference", unique=True),
    CheckConstraint("kind IN ('percent', 'fixed', 'points')", name="kind"),
    CheckConstraint("status IN ('pending', 'approved', 'revoked', 'reversed')", name="status"),
    CheckConstraint("(kind = 'points') = (currency IS NULL)", name="points_have_no_currency"),
    _money_check("value_minor"),
    _money_check("original_minor"),
    CheckConstraint("value_minor <= original_minor", name="value_not_above_original"),
    Index("ix_refkit_rewards_beneficiary", "beneficiary_id", "status", "currency", "value_minor"),
    Index("ix_refkit_rewards_due", "status", "due_at"),
    Index("ix_refkit_rewards_order", "order_id"),
    Index("ix_refkit_rewards_created", "created_at"),
)

#: Ledger entries that spend a balance rather than move a reward (revision 0008).
SPEND_KINDS = ("redeemed", "paid_out", "expired")
LEDGER_KINDS = ("accrued", "approved", "revoked", "reversed", "adjusted", *SPEND_KINDS)
LEDGER_KINDS_SQL = ", ".join(f"'{kind}'" for kind in LEDGER_KINDS)
SPEND_KINDS_SQL = ", ".join(f"'{kind}'" for kind in SPEND_KINDS)
UNKEYED_KINDS_SQL = ", ".join(f"'{kind}'" for kind in ("adjusted", *SPEND_KINDS))

ledger = Table(
    "refkit_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reward_id", Integer, ForeignKey("refkit_rewards.id")),
    Column("beneficiary_id", String(_ID), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("once_key", String(8)),
    Column("pending_minor", BigInteger, nullable=False),
    Column("approved_minor", BigInteger, nullable=False),
    Column("currency", String(3)),
    Column("created_at", UTCDateTime, nullable=False),
    # the caller's idempotency key of a redemption or payout (revision 0008)
    Column("reference", String(_ID)),
    CheckConstraint(f"kind IN ({LEDGER_KINDS_SQL})", name="kind"),
    CheckConstraint(
        f"(kind IN ({UNKEYED_KINDS_SQL}) AND once_key IS NULL) OR "
        f"(kind NOT IN ({UNKEYED_KINDS_SQL}) AND once_key = kind)",
        name="once_key",
    ),
    CheckConstraint(
        f"(kind IN ({SPEND_KINDS_SQL})) = (reward_id IS NULL) AND "
        f"(kind IN ('redeemed', 'paid_out')) = (reference IS NOT NULL) AND "
        f"(kind NOT IN ({SPEND_KINDS_SQL}) OR (pending_minor = 0 AND approved_minor < 0))",
        name="spend",
    ),
    CheckConstraint(
        f"pending_minor >= -{MAX_MINOR} AND pending_minor <= {MAX_MINOR} AND "
        f"approved_minor >= -{MAX_MINOR} AND approved_minor <= {MAX_MINOR}",
        name="range",
    ),
    UniqueConstraint("reward_id", "once_key", name="uq_refkit_ledger_once"),
    _where_set("uq_refkit_ledger_reference", "reference", column="reference", unique=True),
    Index("ix_refkit_ledger_beneficiary", "beneficiary_id", "created_at"),
    Index("ix_refkit_ledger_created", "created_at"),
)

#: Each user's spendable balance by currency (``''``: points), in minor units (revision 0008).
#: Every ledger entry that changes an approved balance changes it in the same transaction.
balances = Table(
    "refkit_balances",
    metadata,
    Column("beneficiary_id", String(_ID), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("balance_minor", BigInteger, nullable=False, server_default="0"),
    Column("debt_minor", BigInteger, nullable=False, server_default="0"),
    CheckConstraint(
        f"balance_minor >= 0 AND balance_minor <= {MAX_MINOR} AND "
        f"debt_minor >= 0 AND debt_minor <= {MAX_MINOR} AND "
        "(balance_minor = 0 OR debt_minor = 0)",
        name="not_negative",
    ),
    Index("ix_refkit_balances_payable", "currency", "balance_minor"),
)

#: Shards of :data:`referrer_totals`: each write bumps one of them, picked at random, so the
#: visits of a referrer whose link goes viral do not all wait for one row lock.
TOTAL_SHARDS = 8

#: Running totals of each referrer's visits and referrals (revision 0004), kept in the
#: transaction that writes the visit or the referral, so :meth:`stats_for` reads at most
#: :data:`TOTAL_SHARDS` rows instead of counting a busy referrer's hundred thousand visits.
referrer_totals = Table(
    "refkit_referrer_totals",
    metadata,
    Column("referrer_id", String(_ID), primary_key=True),
    Column("shard", Integer, primary_key=True, autoincrement=False),
    Column("visits", BigInteger, nullable=False, server_default="0"),
    Column("signups", BigInteger, nullable=False, server_default="0"),
    CheckConstraint("visits >= 0 AND signups >= 0", name="not_negative"),
)

counters = Table(
    "refkit_counters",
    metadata,
    Column("referrer_id", String(_ID), primary_key=True),
    Column("rewards", Integer, nullable=False, server_default="0"),
    CheckConstraint("rewards >= 0", name="rewards"),
)

identities = Table(
    "refkit_identities",
    metadata,
    Column("user_id", String(_ID), primary_key=True),
    Column("email_hash", String(64), nullable=False),
    Column("disposable", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_refkit_identities_email", "email_hash"),
)

flags = Table(
    "refkit_flags",
    metadata,
    Column("referee_id", String(_ID), primary_key=True),
    Column("reason", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("cleared_at", UTCDateTime),
    # The referral's referrer (revision 0004; a binding never changes), so a referrer's
    # flagged count reads their own open flags, not every open flag of the program.
    Column("referrer_id", String(_ID)),
    Index("ix_refkit_flags_open", "cleared_at", "created_at"),
    Index("ix_refkit_flags_referrer", "referrer_id", "cleared_at", "referee_id"),
)

signals = Table(
    "refkit_signals",
    metadata,
    Column("referee_id", String(_ID), primary_key=True),
    Column("click_ip", String(64)),
    Column("click_ua", String(64)),
    Column("clicked_at", UTCDateTime),
    Column("signup_ip", String(64)),
    Column("signup_ua", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_refkit_signals_created", "created_at"),
)

erasures = Table(
    "refkit_erasures",
    metadata,
    Column("pseudonym", String(_ID), primary_key=True),
    Column("erased_at", UTCDateTime, nullable=False),
)

#: The referrer numbers of revoked codes (revision 0007): such a code resolves to
#: ``InvalidCode(reason="revoked")``, and the number is never assigned again.
revoked_codes = Table(
    "refkit_revoked_codes",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("user_id", String(_ID), nullable=False),
    Column("revoked_at", UTCDateTime, nullable=False),
    CheckConstraint("number >= 0 AND number < 8388608", name="number_range"),
    Index("ix_refkit_revoked_codes_user", "user_id"),
)

#: Claim statuses that hold the referee's one discount (the ``slot`` is set).
CLAIM_HELD = ("live", "used", "refunded")

#: The friend's discount reserved for an order before payment (revision 0007).
discount_claims = Table(
    "refkit_discount_claims",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", String(_ID), nullable=False),
    Column("referee_id", String(_ID), nullable=False),
    Column("referrer_id", String(_ID), nullable=False),
    Column("slot", String(_ID)),
    Column("status", String(8), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("discount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
    UniqueConstraint("order_id", name="uq_refkit_discount_claims_order"),
    UniqueConstraint("slot", name="uq_refkit_discount_claims_slot"),
    CheckConstraint("status IN ('live', 'used', 'refunded', 'released', 'lapsed')", name="status"),
    CheckConstraint(
        "(slot IS NULL AND status IN ('released', 'lapsed')) OR "
        "(slot = referee_id AND status IN ('live', 'used', 'refunded'))",
        name="slot",
    ),
    _money_check("amount_minor"),
    _money_check("discount_minor"),
    CheckConstraint("discount_minor <= amount_minor", name="discount_not_above_amount"),
    Index("ix_refkit_discount_claims_referee", "referee_id", "status"),
    Index("ix_refkit_discount_claims_used", "status", "used_at"),
)

#: One row per committed write transaction (its operation id, time-ordered, so the
#: purge of old rows is a range delete on the primary key): after a lost COMMIT answer the
#: runner looks its id up to learn whether the write committed (``storage/operations.py``).
operations = Table(
    "refkit_operations",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
)

#: Pepper keys of retired secret keys (revision 0006), wrapped under the newest secret key by
#: :meth:`~refkit.ReferralProgram.rotate_keys` (:mod:`refkit.keyring`).
keyring = Table(
    "refkit_keyring",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("wrapped", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
