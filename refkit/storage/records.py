"""Rows to records: the one place that turns stored minor units back into Decimals."""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any, Final

from ..models import Conversion, EarnedReward, LedgerEntry, Referral
from ..money import from_minor

__all__ = [
    "REFERRAL_COLUMNS",
    "conversion_from_row",
    "ledger_from_row",
    "referral_from_row",
    "reward_from_row",
    "value_of",
]


def value_of(units: int, currency: str | None) -> Decimal:
    """Minor units in ``currency``, or points when ``currency`` is ``None``."""
    return Decimal(units) if currency is None else from_minor(units, currency)


#: The columns of ``refkit_referrals`` a :class:`~refkit.Referral` is made of, named as its
#: fields: every statement that reads a referral selects these (``referrals.c[name]``).
REFERRAL_COLUMNS: Final = tuple(field.name for field in fields(Referral))


def referral_from_row(row: Any) -> Referral:
    """The referral in ``row``, which has an attribute per :data:`REFERRAL_COLUMNS`."""
    return Referral(**{name: getattr(row, name) for name in REFERRAL_COLUMNS})


def reward_from_row(row: Any) -> EarnedReward:
    return EarnedReward(
        id=row.id,
        order_id=row.order_id,
        beneficiary_id=row.beneficiary_id,
        role=row.role,
        kind=row.kind,
        value=value_of(row.value_minor, row.currency),
        currency=row.currency,
        status=row.status,
        created_at=row.created_at,
        due_at=row.due_at,
        referee_id=row.referee_id,
        referrer_id=row.referrer_id,
        original_value=value_of(row.original_minor, row.currency),
        milestone=row.milestone,
        reference=row.reference,
        reason=row.reason,
    )


def conversion_from_row(row: Any, rewards: tuple[EarnedReward, ...]) -> Conversion:
    return Conversion(
        order_id=row.order_id,
        customer_id=row.customer_id,
        amount=from_minor(row.amount_minor, row.currency),
        currency=row.currency,
        referrer_id=row.referrer_id,
        rewards=rewards,
        created_at=row.created_at,
        reasons=tuple(reason for reason in row.reasons.split(",") if reason),
        refunded_amount=from_minor(row.refunded_minor, row.currency),
        campaign=row.campaign,
        channel=row.channel,
    )


def ledger_from_row(row: Any) -> LedgerEntry:
    return LedgerEntry(
        id=row.id,
        reward_id=row.reward_id,
        beneficiary_id=row.beneficiary_id,
        kind=row.kind,
        pending=value_of(row.pending_minor, row.currency),
        approved=value_of(row.approved_minor, row.currency),
        currency=row.currency,
        created_at=row.created_at,
        reference=row.reference,
    )
