"""refkit's records as JSON, for the web integrations' APIs (Flask, Django): amounts as
decimal strings (never floats, never exponent notation), times in ISO 8601, and nothing a
user should not see about others (no referrer in an offer, no order ids in a reward).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .models import STATUSES, EarnedReward, Offer, ReferrerStats
from .rules import Milestone

__all__ = ["milestone_json", "money", "offer_json", "reward_json", "stats_json"]


def money(value: Decimal) -> str:
    """A decimal as a JSON string, never in exponent notation (``"12.50"``)."""
    return format(value, "f")


def stats_json(stats: ReferrerStats) -> dict[str, Any]:
    """A user's stats for the API: every reward status present, amounts as strings."""
    return {
        "visits": stats.visits,
        "signups": stats.signups,
        "conversions": stats.conversions,
        "revenue": money(stats.revenue),
        "rewards": {status: money(stats.rewards[status]) for status in STATUSES},
        "points": {status: stats.points[status] for status in STATUSES},
        "balance": money(stats.balance),
    }


def offer_json(offer: Offer, amount: str) -> dict[str, Any]:
    """An offer for the cart: the discount, the total to charge, why; never the referrer."""
    before = Decimal(amount.strip())
    return {
        "discount": money(offer.discount),
        "currency": offer.currency,
        "amount": money(before),
        "total": money(before - offer.discount),
        "reasons": list(offer.reasons),
        "expires_at": None if offer.expires_at is None else offer.expires_at.isoformat(),
    }


def reward_json(reward: EarnedReward) -> dict[str, Any]:
    """A reward for its beneficiary. Other users' ids and the order id are left out."""
    return {
        "id": reward.id,
        "role": reward.role,
        "kind": reward.kind,
        "value": _value(reward.value, reward.currency),
        "original_value": _value(reward.original_value, reward.currency),
        "currency": reward.currency,
        "status": reward.status,
        "created_at": reward.created_at.isoformat(),
        "due_at": reward.due_at.isoformat(),
        "milestone": reward.milestone,
    }


def milestone_json(milestone: Milestone | None) -> dict[str, Any] | None:
    """The next milestone: its count and what it pays (``None``: no milestone ahead)."""
    if milestone is None:
        return None
    reward = milestone.reward
    return {
        "count": milestone.count,
        "kind": reward.kind,
        "value": _value(reward.value, reward.currency),
        "currency": reward.currency,
    }


def _value(value: Decimal, currency: str | None) -> str:
    return money(value) if currency is not None else str(int(value))  # points: whole
