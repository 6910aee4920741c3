"""SqlStore: refkit's storage on SQLAlchemy Core (SQLite, PostgreSQL, other dialects).

Each public method is one transaction. Uniqueness races are settled by the database with
``INSERT ... ON CONFLICT DO NOTHING`` (a savepoint on dialects without it), caps by a
conditional ``UPDATE ... WHERE rewards < cap``, and state changes by ``UPDATE ... WHERE
status = 'pending'``: never by reading in Python and writing afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from types import SimpleNamespace
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Select, Table, exists, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from .. import conditions, reports
from ..errors import ConflictError, StorageError, ValidationError
from ..models import (
    Conversion,
    EarnedReward,
    Fingerprint,
    FlaggedReferral,
    LeaderboardEntry,
    LedgerEntry,
    ProgramSummary,
    Referral,
    ReferrerStats,
    Source,
    Visit,
)
from ..money import to_minor
from ..rules import ConversionContext, Decision
from . import abuse
from .base import AttributionResult, ConversionResult, Decider, NewConversion
from .driver import DriverStatement
from .engines import READ_ONLY, engine_for_url
from .migrate import ensure_schema
from .records import (
    conversion_from_row,
    ledger_from_row,
    referral_from_row,
    reward_from_row,
)
from .schema import (
    TOTAL_SHARDS,
    conversions,
    counters,
    ledger,
    referrals,
    referrer_totals,
    referrers,
    rewards,
)
from .statements import (
    ATTRIBUTION_CONTEXT,
    CONVERSION_CONTEXT,
    CONVERSION_INSERT,
    LEDGER_INSERT,
    NUMBER_OF_USER,
    ON_CONFLICT_DIALECTS,
    PSEUDONYM_SLOTS,
    REFERRAL_INSERT,
    REWARD_INSERT,
    TOTALS_BUMP,
    USER_OF_NUMBER,
    VISIT_BY_NUMBER,
    VISIT_INSERT,
    insert_ignore,
)

__all__ = ["SqlStore"]

log = logging.getLogger("refkit.storage")
T = TypeVar("T")

MAX_ATTEMPTS = 5
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock
_BINDING_LOCK_KEY = 0x7265666B697402  # pg_advisory_xact_lock key serializing new referrals
# Every referrer up the chain from :start. UNION (not UNION ALL) drops repeats, so the walk
# ends even on a cycle, and there is no depth limit a long chain could slip past.
_CYCLE_QUERY = text(
    """
    WITH RECURSIVE chain(user_id) AS (
        SELECT referrer_id FROM refkit_referrals WHERE referee_id = :start
        UNION
        SELECT r.referrer_id
        FROM refkit_referrals r JOIN chain ON r.referee_id = chain.user_id
    )
    SELECT 1 FROM chain WHERE user_id = :target LIMIT 1
    """
)


def _retryable(error: DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in _RETRYABLE_SQLSTATES or error.connection_invalidated:
        return True
    return "database is locked" in str(error.orig)


class SqlStore:
    """Storage on any SQLAlchemy engine.

    :param engine: an :class:`~sqlalchemy.engine.Engine` (for example Flask-SQLAlchemy's
        ``db.engine``: refkit's tables, all prefixed ``refkit_``, live beside the shop's) or a
        database URL.
    :param create: create or upgrade the tables on first use.
    """

    def __init__(self, engine: Engine | str, *, create: bool = True) -> None:
        if isinstance(engine, str):
            engine = engine_for_url(engine)
        elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
            # A shop's own SQLite engine: keep its transaction handling untouched, and give
            # refkit a twin on the same file with refkit's settings.
            engine = engine_for_url(engine.url.render_as_string(hide_password=False))
        self.engine = engine
        self._create = create
        self._ready = not create
        self._ready_lock = threading.Lock()
        self._lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.engine.url.render_as_string(hide_password=True)}>"

    # -- transactions ----------------------------------------------------------------------

    def create_all(self) -> None:
        """Create the tables, or upgrade them to this release's schema (idempotent)."""
        try:
            with self._lock:
                ensure_schema(self.engine)
        except SQLAlchemyError as error:
            raise StorageError(
                f"could not create refkit's tables: {error}. Check that the store URL points "
                "to a database (for SQLite, in a directory that exists) and that it is writable"
            ) from error
        self._ready = True

    def _ensure_ready(self) -> None:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    self.create_all()

    def read(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in one read-only transaction, for queries of your own
        over refkit's tables (reports, dashboards). Tables are created first if needed, and
        driver errors become :class:`~refkit.StorageError`."""
        return self._run(work, read_only=True)

    def _run(self, work: Callable[[Connection], T], *, read_only: bool = False) -> T:
        """Run ``work`` in one transaction, retrying serialization failures and deadlocks."""
        self._ensure_ready()
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                with self._lock, self.engine.connect() as connection:
                    if read_only:
                        connection = connection.execution_options(**{READ_ONLY: True})
                    with connection.begin():
                        return work(connection)
            except DBAPIError as error:
                if attempt < MAX_ATTEMPTS and _retryable(error):
                    log.info("refkit: retrying after %s (attempt %d)", error.orig, attempt)
                    time.sleep(0.01 * 2**attempt)
                    continue
                raise StorageError(_storage_message(error.orig)) from error
            except SQLAlchemyError as error:
                raise StorageError(_storage_message(error)) from error
        raise AssertionError("unreachable")  # pragma: no cover

    def _insert_ignore(
        self, connection: Connection, table: Table, values: dict[str, Any], returning: bool = False
    ) -> Any:
        """Insert a row unless it breaks a unique constraint; the new id, True, or None."""
        dialect = connection.dialect.name
        if dialect in ON_CONFLICT_DIALECTS:
            statement = insert_ignore(table, dialect, returning=returning)
            row = connection.execute(statement, values).first()
            if row is None:
                return None
            return row[0] if returning else True
        try:
            with connection.begin_nested():
                result = connection.execute(table.insert().values(values))
        except IntegrityError:
            return None
        return result.inserted_primary_key[0] if returning else True  # type: ignore[index]

    def _insert_prepared(
        self,
        connection: Connection,
        statement: DriverStatement,
        table: Table,
        values: dict[str, Any],
    ) -> Any:
        """:meth:`_insert_ignore` through ``statement`` (one of the hot path's, which return
        the new row's key): the new id or key, or None."""
        if connection.dialect.name in ON_CONFLICT_DIALECTS:
            return statement.first(connection, values)
        return self._insert_ignore(connection, table, values, returning="id" in table.c)

    def close(self) -> None:
        """Release the engine's pooled connections."""
        self.engine.dispose()

    # -- referrers -------------------------------------------------------------------------

    def number_for(self, user_id: str, candidates: Callable[[], int], at: datetime) -> int:
        found = self._run(lambda c: self._number(c, user_id), read_only=True)
        if found is not None:
            return found

        def assign(connection: Connection) -> int:
            for _ in range(64):
                number = candidates()
                values = {"user_id": user_id, "number": number, "created_at": at}
                if self._insert_ignore(connection, referrers, values):
                    return number
                existing = self._number(connection, user_id)
                if existing is not None:
                    return existing
            raise StorageError("could not assign a referrer number: the code space is full")

        return self._run(assign)

    @staticmethod
    def _number(connection: Connection, user_id: str) -> int | None:
        value: int | None = NUMBER_OF_USER.first(connection, {"user_id": user_id})
        return value

    def user_for_number(self, number: int) -> str | None:
        user_id: str | None = self._run(
            lambda c: USER_OF_NUMBER.first(c, {"number": number}), read_only=True
        )
        return user_id

    # -- visits and referrals --------------------------------------------------------------

    def add_visit(
        self, referrer_id: str, campaign: str | None, visitor: str | None, at: datetime
    ) -> Visit:
        values = {"referrer_id": referrer_id, "campaign": campaign, "visitor": visitor}

        def work(connection: Connection) -> int:
            visit_id: int = VISIT_INSERT.first(connection, {**values, "created_at": at})
            self._count(connection, referrer_id, visits=1)
            return visit_id

        return Visit(self._run(work), referrer_id, campaign, visitor, at)

    def add_visit_by_number(
        self,
        number: int,
        campaign: str | None,
        visitor: str | None,
        at: datetime,
        erased_prefix: str,
    ) -> Visit | None:
        """A visit for the holder of referrer ``number``, in one statement; ``None`` if no
        user holds it, or an erased one (their user id starts with ``erased_prefix``)."""
        values = {
            "number": number,
            "campaign": campaign,
            "visitor": visitor,
            "created_at": at,
            "erased_prefix": erased_prefix,
            "prefix_length": len(erased_prefix),
        }

        def work(connection: Connection) -> Any:
            row = VISIT_BY_NUMBER.row(connection, values)
            if row is not None:
                self._count(connection, row.referrer_id, visits=1)
            return row

        row = self._run(work)
        if row is None:
            return None
        return Visit(row.id, row.referrer_id, campaign, visitor, at)

    def _count(
        self, connection: Connection, referrer_id: str, *, visits: int = 0, signups: int = 0
    ) -> None:
        """Add to the referrer's running totals, in the caller's transaction."""
        values = {"referrer_id": referrer_id, "visits": visits, "signups": signups}
        values["shard"] = secrets.randbelow(TOTAL_SHARDS)
        if connection.dialect.name in ON_CONFLICT_DIALECTS:
            TOTALS_BUMP.first(connection, values)
            return
        for _ in range(MAX_ATTEMPTS):  # no upsert here: update, else insert, else update
            changed = connection.execute(
                update(referrer_totals)
                .where(
                    referrer_totals.c.referrer_id == referrer_id,
                    referrer_totals.c.shard == values["shard"],
                )
                .values(
                    visits=referrer_totals.c.visits + visits,
                    signups=referrer_totals.c.signups + signups,
                )
            )
            if changed.rowcount == 1 or self._insert_ignore(connection, referrer_totals, values):
                return
        raise StorageError("could not update the referrer's totals; retrying is safe")

    def attribute(
        self,
        referee_id: str,
        referrer_id: str,
        source: Source,
        campaign: str | None,
        at: datetime,
        click: Fingerprint | None = None,
        signup: Fingerprint | None = None,
        pseudonyms: tuple[str, ...] = (),
    ) -> AttributionResult:
        return self._run(
            lambda c: self._attribute(
                c, referee_id, referrer_id, source, campaign, at, click, signup, pseudonyms
            )
        )

    def _attribute(
        self,
        connection: Connection,
        referee_id: str,
        referrer_id: str,
        source: Source,
        campaign: str | None,
        at: datetime,
        click: Fingerprint | None = None,
        signup: Fingerprint | None = None,
        pseudonyms: tuple[str, ...] = (),
    ) -> AttributionResult:
        """Bind ``referee_id`` (or its pseudonym, one of ``pseudonyms``, if the referee was
        erased) to ``referrer_id`` unless a rule refuses it."""
        context = self._attribution_context(connection, referee_id, referrer_id, pseudonyms)
        if context.erased is not None:
            referee_id = context.erased
            context = self._attribution_context(connection, referee_id, referrer_id, ())
        if context.referee_id is not None:
            bound = referral_from_row(context)
            refused = None if bound.referrer_id == referrer_id else "already_referred"
            return AttributionResult(bound, False, refused)
        if referee_id == referrer_id:
            return AttributionResult(None, False, "self_referral")
        if context.same_email:
            return AttributionResult(None, False, "same_email")
        cycle = context.cycle
        if connection.dialect.name == "postgresql":
            # Check-then-insert is safe only if no other binding commits in between: two or
            # more concurrent bindings (a->b, b->c, c->a) could each pass the check and close
            # a cycle together; so new bindings take turns, and check again once it is
            # theirs. SQLite already serializes writers (BEGIN IMMEDIATE).
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _BINDING_LOCK_KEY}
            )
            found = connection.execute(_CYCLE_QUERY, {"start": referrer_id, "target": referee_id})
            cycle = found.first() is not None
        if cycle:
            return AttributionResult(None, False, "cycle")
        low, high = sorted((referee_id, referrer_id))
        values = {
            "referee_id": referee_id,
            "referrer_id": referrer_id,
            "source": source,
            "campaign": campaign,
            "pair_low": low,
            "pair_high": high,
            "created_at": at,
        }
        if self._insert_prepared(connection, REFERRAL_INSERT, referrals, values):
            self._count(connection, referrer_id, signups=1)
            abuse.on_referral(
                connection,
                self._insert_ignore,
                referee_id,
                referrer_id,
                click,
                signup,
                at,
                disposable=bool(context.disposable),
            )
            return AttributionResult(Referral(referee_id, referrer_id, source, at, campaign), True)
        existing = self._referral(connection, referee_id)  # lost a race
        if existing is None:  # the unordered pair exists: B already refers A
            return AttributionResult(None, False, "cycle")
        refused = None if existing.referrer_id == referrer_id else "already_referred"
        return AttributionResult(existing, False, refused)

    @staticmethod
    def _attribution_context(
        connection: Connection, referee_id: str, referrer_id: str, pseudonyms: tuple[str, ...]
    ) -> Any:
        parameters = {"referee": referee_id, "referrer": referrer_id}
        return _context(connection, ATTRIBUTION_CONTEXT, parameters, referee_id, pseudonyms)

    @staticmethod
    def _referral(connection: Connection, referee_id: str) -> Referral | None:
        row = connection.execute(
            select(referrals).where(referrals.c.referee_id == referee_id)
        ).first()
        return None if row is None else referral_from_row(row)

    def referral_of(self, referee_id: str) -> Referral | None:
        return self._run(lambda c: self._referral(c, referee_id), read_only=True)

    # -- conversions -----------------------------------------------------------------------

    def record_conversion(
        self,
        conversion: NewConversion,
        decide: Decider,
        hold: Callable[[datetime], datetime],
        cap: int | None,
    ) -> ConversionResult:
        return self._run(lambda c: self._record_conversion(c, conversion, decide, hold, cap))

    def _record_conversion(
        self,
        connection: Connection,
        new: NewConversion,
        decide: Decider,
        hold: Callable[[datetime], datetime],
        cap: int | None,
    ) -> ConversionResult:
        # One read for everything the decision needs, then only writes: the conversion row
        # (whose primary key settles replays and races), its rewards, their ledger entries.
        customer = new.customer_id
        context = self._conversion_context(connection, customer, new)
        if context.erased is not None:  # the customer was erased: store under the pseudonym
            customer = context.erased
            context = self._conversion_context(connection, customer, new)
        if context.replay:
            return self._replay(connection, new, customer)
        referral = None if context.referrer_id is None else referral_from_row(context)
        row_values = {
            "order_id": new.order_id,
            "customer_id": customer,
            "amount_minor": new.amount_minor,
            "refunded_minor": 0,
            "currency": new.currency,
            "created_at": new.at,
        }
        bind_code = new.code_referrer_id is not None and referral is None
        decision = None if bind_code else self._decide(context, new, referral, decide)
        planned = self._annotated(row_values, referral, _expected_reasons(decision))
        if not self._insert_prepared(connection, CONVERSION_INSERT, conversions, planned):
            return self._replay(connection, new, customer)

        reasons: list[str] = []
        new_referral = None
        if new.code_referrer_id is not None:
            bound = self._attribute(
                connection, customer, new.code_referrer_id, "code", new.campaign, new.at
            )
            if bound.created:
                new_referral = referral = bound.referral
            elif bound.refused == "already_referred":
                reasons.append("code_ignored_already_referred")
            elif bound.refused in ("self_referral", "cycle", "same_email"):
                reasons.append("self_referral")
        if decision is None:
            decision = self._decide(context, new, referral, decide)
        if referral is not None and self._fast(context, new):
            assert new.fast_purchase is not None
            abuse.flag(
                connection,
                self._insert_ignore,
                referral.referee_id,
                referral.referrer_id,
                "fast_purchase",
                new.at,
            )
        reasons.extend(decision.reasons)
        created = self._create_rewards(connection, new, referral, decision, hold, cap, reasons)
        stored_values = self._annotated(row_values, referral, reasons)
        if stored_values != planned:  # a code bound the customer, or a reward was refused
            connection.execute(
                update(conversions)
                .where(conversions.c.order_id == new.order_id)
                .values(
                    referrer_id=stored_values["referrer_id"],
                    campaign=stored_values["campaign"],
                    reasons=stored_values["reasons"],
                )
            )
        # What was just written, without reading it back.
        stored = conversion_from_row(SimpleNamespace(**stored_values), tuple(created))
        return ConversionResult(stored, created=True, new_referral=new_referral)

    @staticmethod
    def _conversion_context(connection: Connection, customer: str, new: NewConversion) -> Any:
        parameters = {"customer": customer, "order_id": new.order_id}
        return _context(connection, CONVERSION_CONTEXT, parameters, customer, new.pseudonyms)

    def _replay(
        self, connection: Connection, new: NewConversion, customer: str
    ) -> ConversionResult:
        stored = self._conversion(connection, new.order_id)
        assert stored is not None
        _check_replay(stored, replace(new, customer_id=customer))
        return ConversionResult(stored, created=False)

    @staticmethod
    def _decide(
        context: Any, new: NewConversion, referral: Referral | None, decide: Decider
    ) -> Decision:
        if referral is not None and context.referrer_id is not None and context.same_email:
            # Identified as one person after the binding: nobody earns on their own purchase.
            decide = _refuse_self_referral
        roles = {"referrer": context.referrer_rewarded, "referee": context.referee_rewarded}
        return decide(
            ConversionContext(
                amount=new.amount,
                currency=new.currency,
                at=new.at,
                referral=referral,
                is_first_purchase=not context.bought_before,
                rewarded_roles=frozenset(role for role, done in roles.items() if done),
            )
        )

    @staticmethod
    def _fast(context: Any, new: NewConversion) -> bool:
        """Whether this purchase came within ``fast_purchase`` of the referee's click."""
        clicked = context.clicked_at
        if new.fast_purchase is None or clicked is None:
            return False
        return bool(timedelta(0) <= new.at - clicked <= new.fast_purchase)

    @staticmethod
    def _annotated(
        row_values: dict[str, Any], referral: Referral | None, reasons: list[str]
    ) -> dict[str, Any]:
        """The conversion row with its referrer, campaign and reasons."""
        return {
            **row_values,
            "referrer_id": referral.referrer_id if referral else None,
            "campaign": referral.campaign if referral else None,
            "reasons": ",".join(reasons),
        }

    def _create_rewards(
        self,
        connection: Connection,
        new: NewConversion,
        referral: Referral | None,
        decision: Decision,
        hold: Callable[[datetime], datetime],
        cap: int | None,
        reasons: list[str],
    ) -> list[EarnedReward]:
        """Insert the decision's rewards and their ledger entries; explain each refusal in
        ``reasons`` (a cap reached, or another order of this referee got there first)."""
        created: list[EarnedReward] = []
        entries: list[dict[str, Any]] = []
        for plan in decision.rewards:
            assert referral is not None
            capped = plan.role == "referrer" and cap is not None
            if capped and not self._take_slot(connection, referral.referrer_id, cap or 0, +1):
                reasons.append("cap_reached")
                continue
            currency = plan.currency
            minor = int(plan.value) if currency is None else _minor(plan.value, currency)
            values = {
                "order_id": new.order_id,
                "referee_id": referral.referee_id,
                "referrer_id": referral.referrer_id,
                "beneficiary_id": plan.beneficiary_id,
                "role": plan.role,
                "kind": plan.kind,
                "value_minor": minor,
                "original_minor": minor,
                "currency": currency,
                "status": "pending",
                "created_at": new.at,
                "due_at": hold(new.at),
            }
            reward_id = self._insert_prepared(connection, REWARD_INSERT, rewards, values)
            if reward_id is None:
                if capped:
                    self._take_slot(connection, referral.referrer_id, cap or 0, -1)
                if "already_rewarded" not in reasons:
                    reasons.append("already_rewarded")
                continue
            reward = reward_from_row(SimpleNamespace(id=reward_id, **values))
            created.append(reward)
            entries.append(_entry(reward, "accrued", new.at, pending=minor))
            reasons.append(f"{plan.role}_rewarded")
        if entries:
            LEDGER_INSERT.many(connection, entries)
        return created

    def _take_slot(self, connection: Connection, referrer_id: str, cap: int, step: int) -> bool:
        """Take (``step=+1``) or give back (``-1``) one of the referrer's capped reward slots.

        The conditional UPDATE is atomic: concurrent conversions cannot both take the last slot.
        """
        if step > 0:
            self._insert_ignore(connection, counters, {"referrer_id": referrer_id, "rewards": 0})
            condition = counters.c.rewards < cap
        else:
            condition = counters.c.rewards > 0
        result = connection.execute(
            update(counters)
            .where(counters.c.referrer_id == referrer_id, condition)
            .values(rewards=counters.c.rewards + step)
        )
        return result.rowcount == 1

    @staticmethod
    def _reward(connection: Connection, reward_id: int) -> EarnedReward:
        row = connection.execute(select(rewards).where(rewards.c.id == reward_id)).one()
        return reward_from_row(row)

    @staticmethod
    def _append(
        connection: Connection,
        reward: Any,
        kind: str,
        at: datetime,
        *,
        pending: int = 0,
        approved: int = 0,
    ) -> None:
        """Append one ledger entry for ``reward`` (a row or an EarnedReward)."""
        LEDGER_INSERT.many(
            connection, [_entry(reward, kind, at, pending=pending, approved=approved)]
        )

    @classmethod
    def _debit(
        cls, connection: Connection, reward: Any, kind: str, units: int, at: datetime
    ) -> None:
        """Take ``units`` off the balance the reward sits in (pending or approved)."""
        if reward.status == "pending":
            cls._append(connection, reward, kind, at, pending=-units)
        else:
            cls._append(connection, reward, kind, at, approved=-units)

    @staticmethod
    def _conversion(connection: Connection, order_id: str) -> Conversion | None:
        row = connection.execute(
            select(conversions).where(conversions.c.order_id == order_id)
        ).first()
        if row is None:
            return None
        reward_rows = connection.execute(
            select(rewards).where(rewards.c.order_id == order_id).order_by(rewards.c.id)
        )
        return conversion_from_row(row, tuple(reward_from_row(r) for r in reward_rows))

    def conversion(self, order_id: str) -> Conversion | None:
        return self._run(lambda c: self._conversion(c, order_id), read_only=True)

    # -- refunds and approvals -------------------------------------------------------------

    def refund(self, order_id: str, amount_minor: int | None, at: datetime) -> list[EarnedReward]:
        return self._run(lambda c: self._refund(c, order_id, amount_minor, at))

    def _refund(
        self, connection: Connection, order_id: str, amount_minor: int | None, at: datetime
    ) -> list[EarnedReward]:
        query = select(conversions).where(conversions.c.order_id == order_id)
        if connection.dialect.name == "postgresql":
            query = query.with_for_update()
        row = connection.execute(query).first()
        if row is None:
            raise ValidationError(f"no conversion was recorded with order_id {order_id!r}")
        remaining = row.amount_minor - row.refunded_minor
        refund = remaining if amount_minor is None else amount_minor
        if refund > remaining:
            raise ValidationError(
                f"refund of order {order_id!r} exceeds what is left to refund "
                f"({remaining} minor units of {row.currency})"
            )
        if refund == 0:
            return []
        refunded = row.refunded_minor + refund
        connection.execute(
            update(conversions)
            .where(conversions.c.order_id == order_id)
            .values(refunded_minor=refunded)
        )
        full = refunded == row.amount_minor
        changed: list[EarnedReward] = []
        live = (
            select(rewards)
            .where(rewards.c.order_id == order_id, rewards.c.status.in_(("pending", "approved")))
            .order_by(rewards.c.id)
        )
        if connection.dialect.name == "postgresql":
            # Lock the rewards read here, or approve_due could approve one between this read
            # and the writes below: a full refund would then leave it approved, a partial one
            # would debit the wrong (pending) balance.
            live = live.with_for_update()
        for reward in connection.execute(live).all():
            if full:
                status = "revoked" if reward.status == "pending" else "reversed"
                if self._transition(connection, reward.id, reward.status, status):
                    self._debit(connection, reward, status, reward.value_minor, at)
            elif reward.kind == "percent":
                kept = Decimal(row.amount_minor - refunded) / Decimal(row.amount_minor)
                value = int((reward.original_minor * kept).to_integral_value(ROUND_HALF_EVEN))
                reduction = reward.value_minor - value
                if reduction <= 0:
                    continue
                connection.execute(
                    update(rewards).where(rewards.c.id == reward.id).values(value_minor=value)
                )
                self._debit(connection, reward, "adjusted", reduction, at)
            else:
                continue
            changed.append(self._reward(connection, reward.id))
        return changed

    @staticmethod
    def _transition(connection: Connection, reward_id: int, old: str, new: str) -> bool:
        result = connection.execute(
            update(rewards)
            .where(rewards.c.id == reward_id, rewards.c.status == old)
            .values(status=new)
        )
        return result.rowcount == 1

    def approve_due(self, now: datetime, limit: int) -> list[EarnedReward]:
        def approve(connection: Connection) -> list[EarnedReward]:
            due = connection.execute(
                select(rewards.c.id)
                .where(conditions.due(now))
                .order_by(rewards.c.due_at, rewards.c.id)
                .limit(limit)
            ).scalars()
            return [r for r in (self._set_status(connection, i, "approved", now) for i in due) if r]

        return self._run(approve)

    def set_status(self, reward_id: int, status: str, at: datetime) -> EarnedReward | None:
        """Approve or revoke one pending reward by hand; ``None`` if it is not pending."""
        return self._run(lambda c: self._set_status(c, reward_id, status, at))

    def _set_status(
        self, connection: Connection, reward_id: int, status: str, at: datetime
    ) -> EarnedReward | None:
        if status not in ("approved", "revoked"):
            raise ValidationError(f"a pending reward can be approved or revoked, not {status!r}")
        if not self._transition(connection, reward_id, "pending", status):
            return None
        reward = self._reward(connection, reward_id)
        minor = _minor(reward.value, reward.currency) if reward.currency else int(reward.value)
        approved = minor if status == "approved" else 0
        self._append(connection, reward, status, at, pending=-minor, approved=approved)
        return reward

    def rewards(
        self, *, beneficiary_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[EarnedReward]:
        query = (
            select(rewards).order_by(rewards.c.created_at.desc(), rewards.c.id.desc()).limit(limit)
        )
        if beneficiary_id is not None:
            query = query.where(rewards.c.beneficiary_id == beneficiary_id)
        if status is not None:
            query = query.where(rewards.c.status == status)
        return self._run(lambda c: [reward_from_row(r) for r in c.execute(query)], read_only=True)

    def ledger(
        self, beneficiary_id: str | None = None, until: datetime | None = None
    ) -> Sequence[LedgerEntry]:
        query = select(ledger).order_by(ledger.c.created_at, ledger.c.id)
        if beneficiary_id is not None:
            query = query.where(ledger.c.beneficiary_id == beneficiary_id)
        if until is not None:
            query = query.where(ledger.c.created_at <= until)
        return self._run(lambda c: [ledger_from_row(r) for r in c.execute(query)], read_only=True)

    def iter_ledger(self, batch: int = 1000) -> Iterator[LedgerEntry]:
        """Every ledger entry in order, read in batches (for exports of any size)."""
        last = 0
        while True:
            page = select(ledger).where(ledger.c.id > last).order_by(ledger.c.id).limit(batch)
            rows = self._run(partial(_ledger_page, page=page), read_only=True)
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    # -- abuse and privacy -----------------------------------------------------------------

    def identify(self, user_id: str, email_hash: str, disposable: bool, at: datetime) -> None:
        """Store the user's email hash (replacing an earlier one)."""
        self._run(
            lambda c: abuse.identify(c, self._insert_ignore, user_id, email_hash, disposable, at)
        )

    def subject_for(self, user_id: str, pseudonyms: tuple[str, ...]) -> str:
        """``user_id``, or its pseudonym (one of ``pseudonyms``) if the user was erased."""
        return self._run(lambda c: abuse.subject_for(c, user_id, pseudonyms), read_only=True)

    def flagged_referrals(self, limit: int) -> list[FlaggedReferral]:
        return self._run(lambda c: abuse.flagged_referrals(c, limit), read_only=True)

    def clear_flags(self, referee_id: str, at: datetime) -> int:
        return self._run(lambda c: abuse.clear_flags(c, referee_id, at))

    def purge_signals(self, before: datetime) -> int:
        return self._run(lambda c: abuse.purge_signals(c, before))

    def erase(
        self, user_id: str, pseudonym: str, candidates: Callable[[], int], at: datetime
    ) -> None:
        def work(connection: Connection) -> None:
            taken = select(referrers.c.number)
            for _ in range(64):
                spare = candidates()
                if not connection.execute(
                    select(exists(taken.where(referrers.c.number == spare)))
                ).scalar():
                    break
            abuse.erase(connection, self._insert_ignore, user_id, pseudonym, spare, at)

        self._run(work)

    # -- stats -----------------------------------------------------------------------------

    def stats_for(self, user_id: str) -> ReferrerStats:
        return self._run(lambda c: reports.stats_for(c, user_id), read_only=True)

    def summary(
        self, since: datetime | None, until: datetime | None, campaign: str | None
    ) -> ProgramSummary:
        return self._run(lambda c: reports.summary(c, since, until, campaign), read_only=True)

    def leaderboard(self, limit: int, by: str) -> list[LeaderboardEntry]:
        return self._run(lambda c: reports.leaderboard(c, limit, by), read_only=True)


def _refuse_self_referral(context: ConversionContext) -> Decision:
    return Decision((), ("self_referral",))


def _storage_message(error: object) -> str:
    return (
        f"the database failed: {error}. Nothing was stored; check that the store URL is right "
        "and the database is reachable and writable, then retry (retrying the same call, "
        "for example the same order id, is safe)"
    )


def _context(
    connection: Connection,
    statement: DriverStatement,
    parameters: dict[str, Any],
    user_id: str,
    pseudonyms: tuple[str, ...],
) -> Any:
    """The one row of a context statement, whose ``erased`` is ``user_id``'s pseudonym if
    the user was erased: the statement checks the first :data:`PSEUDONYM_SLOTS` pseudonyms
    (repeated to fill its slots, an impossible one if there are none), older ones are
    looked up after it."""
    candidates = pseudonyms[:PSEUDONYM_SLOTS] or ("",)
    slots = candidates + candidates[-1:] * (PSEUDONYM_SLOTS - len(candidates))
    parameters.update((f"pseudonym{i}", slot) for i, slot in enumerate(slots))
    context = statement.row(connection, parameters)
    assert context is not None  # one row, always
    if context.erased is None and len(pseudonyms) > PSEUDONYM_SLOTS:
        subject = abuse.subject_for(connection, user_id, pseudonyms[PSEUDONYM_SLOTS:])
        context.erased = None if subject == user_id else subject
    return context


def _expected_reasons(decision: Decision | None) -> list[str]:
    """The reasons a conversion ends with if every reward of ``decision`` is created."""
    if decision is None:
        return []
    return [*decision.reasons, *(f"{plan.role}_rewarded" for plan in decision.rewards)]


def _entry(
    reward: Any, kind: str, at: datetime, *, pending: int = 0, approved: int = 0
) -> dict[str, Any]:
    """The parameters of one ledger entry for ``reward`` (a row or an EarnedReward)."""
    return {
        "reward_id": reward.id,
        "beneficiary_id": reward.beneficiary_id,
        "kind": kind,
        "once_key": None if kind == "adjusted" else kind,
        "pending_minor": pending,
        "approved_minor": approved,
        "currency": reward.currency,
        "created_at": at,
    }


def _ledger_page(connection: Connection, page: Select[Any]) -> list[LedgerEntry]:
    return [ledger_from_row(row) for row in connection.execute(page)]


def _minor(value: Decimal, currency: str) -> int:
    return to_minor(value, currency, "reward")


def _check_replay(stored: Conversion, new: NewConversion) -> None:
    """The same order id again must carry the same purchase."""
    for field, old, given in (
        ("customer_id", stored.customer_id, new.customer_id),
        ("amount", stored.amount, new.amount),
        ("currency", stored.currency, new.currency),
    ):
        if old != given:
            raise ConflictError(
                new.order_id,
                f"order {new.order_id!r} was recorded with {field} {old!r}, not {given!r}; "
                "an order id identifies one purchase (use a new id for a new order)",
            )
