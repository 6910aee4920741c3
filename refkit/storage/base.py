"""The Store protocol: what a storage backend must do, atomically.

refkit ships one implementation, :class:`~refkit.storage.sql.SqlStore` (SQLite, PostgreSQL and
other SQLAlchemy databases), and :class:`~refkit.storage.memory.MemoryStore`, the same code on
an in-memory SQLite database: so even the memory store enforces every rule with real
constraints and transactions rather than Python checks. Each method is one transaction: it
either stores everything it describes or nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

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
from ..rules import ConversionContext, Decision

__all__ = ["AttributionResult", "ConversionResult", "NewConversion", "Store"]


@dataclass(frozen=True, slots=True)
class NewConversion:
    """A validated purchase, ready to store (amounts already in minor units)."""

    order_id: str
    customer_id: str
    amount: Decimal
    amount_minor: int
    currency: str
    at: datetime
    code_referrer_id: str | None = None
    campaign: str | None = None
    #: flag the referral when the purchase comes this soon after the click
    fast_purchase: timedelta | None = None
    #: the customer's pseudonyms (one per key): if one is stored, the customer was erased
    #: and the conversion is stored under it
    pseudonyms: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttributionResult:
    referral: Referral | None
    created: bool
    #: why no referral was made: "self_referral", "cycle", "already_referred", "same_email"
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class ConversionResult:
    conversion: Conversion
    created: bool
    new_referral: Referral | None = None
    events: tuple[tuple[str, object], ...] = field(default=())


Decider = Callable[[ConversionContext], Decision]


@runtime_checkable
class Store(Protocol):
    """Storage for referral programs. Every method is atomic."""

    def create_all(self) -> None:
        """Create or upgrade the tables (idempotent)."""

    def number_for(self, user_id: str, candidates: Callable[[], int], at: datetime) -> int:
        """The user's referrer number, assigning one from ``candidates()`` on first use."""

    def user_for_number(self, number: int) -> str | None:
        """The user a referrer number belongs to, or ``None``."""

    def add_visit(
        self, referrer_id: str, campaign: str | None, visitor: str | None, at: datetime
    ) -> Visit: ...

    def add_visit_by_number(
        self,
        number: int,
        campaign: str | None,
        visitor: str | None,
        at: datetime,
        erased_prefix: str,
    ) -> Visit | None:
        """A visit for the holder of referrer ``number``; ``None`` if nobody holds it, or
        an erased user (whose id starts with ``erased_prefix``)."""

    # Binds the referee (stored under its pseudonym, one of ``pseudonyms``, if it was
    # erased) unless a rule refuses it.
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
    ) -> AttributionResult: ...

    def referral_of(self, referee_id: str) -> Referral | None: ...

    def record_conversion(
        self,
        conversion: NewConversion,
        decide: Decider,
        hold: Callable[[datetime], datetime],
        cap: int | None,
    ) -> ConversionResult: ...

    def conversion(self, order_id: str) -> Conversion | None: ...

    def refund(
        self, order_id: str, amount_minor: int | None, at: datetime
    ) -> list[EarnedReward]: ...

    def approve_due(self, now: datetime, limit: int) -> list[EarnedReward]: ...

    def set_status(self, reward_id: int, status: str, at: datetime) -> EarnedReward | None: ...

    def rewards(
        self, *, beneficiary_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[EarnedReward]: ...

    def ledger(
        self, beneficiary_id: str | None = None, until: datetime | None = None
    ) -> Sequence[LedgerEntry]: ...

    def stats_for(self, user_id: str) -> ReferrerStats: ...

    def summary(
        self, since: datetime | None, until: datetime | None, campaign: str | None
    ) -> ProgramSummary: ...

    def leaderboard(self, limit: int, by: str) -> list[LeaderboardEntry]: ...

    def identify(self, user_id: str, email_hash: str, disposable: bool, at: datetime) -> None:
        """Store the user's normalized-email hash; flag their referral if disposable."""

    def subject_for(self, user_id: str, pseudonyms: tuple[str, ...]) -> str:
        """``user_id``, or its pseudonym if the user was erased."""

    def flagged_referrals(self, limit: int) -> list[FlaggedReferral]: ...

    def clear_flags(self, referee_id: str, at: datetime) -> int: ...

    def purge_signals(self, before: datetime) -> int: ...

    def erase(
        self, user_id: str, pseudonym: str, candidates: Callable[[], int], at: datetime
    ) -> None:
        """Replace ``user_id`` by ``pseudonym`` everywhere; delete its keys and signals."""

    def close(self) -> None: ...
