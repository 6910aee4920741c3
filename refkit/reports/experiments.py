"""The A/B test report: each variant's funnel, money, and conversion rate with its 95%
interval and p-value against the control (:meth:`refkit.ReferralProgram.experiment_report`).

A variant's figures follow its cohort of referrals (the referees bound with it, whenever they
bought): ``first_purchases`` counts those referees who bought at least once, so the
conversion rate ``first_purchases / signups`` never passes 100%. Visits are the landings of
visitors shown the variant (:meth:`~refkit.ReferralProgram.record_visit` with ``variant``).
The statistics are :mod:`refkit.reports.stats`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from ..conditions import NET, counted
from ..experiments import Experiment
from ..money import from_minor
from ..storage.schema import conversions, discount_claims, referrals, rewards, visits
from .stats import CONFIDENCE, two_proportion_p_value, wilson_interval

__all__ = ["ExperimentReport", "VariantReport", "experiment_report"]


@dataclass(frozen=True, slots=True)
class VariantReport:
    """One variant of an experiment, over its cohort of referrals.

    * ``visits``: landings of visitors shown the variant; ``signups``: referrals bound with
      it; ``first_purchases``: those referees who bought (at least once).
    * ``conversion_rate = first_purchases / signups`` (0.0 without signups), and
      ``conversion_low`` / ``conversion_high``: its 95% Wilson score interval (``0.0`` to
      ``1.0`` without signups: nothing is known yet).
    * ``revenue``: the cohort's orders net of refunds; ``reward_cost``: their rewards (pending
      or approved, monetary) and the friends' discounts used; both add every currency
      together, the totals of a one-currency shop, as in :class:`~refkit.ProgramSummary`.
    * ``cost_per_acquisition = reward_cost / first_purchases`` (``None`` without purchases).
    * ``p_value``: the pooled two-proportion z-test (two-sided) of this variant's conversion
      rate against the control's; ``None`` for the control itself, and when the test is
      undefined (a variant without signups, or no purchase, or all bought, in both).
    """

    variant: str
    visits: int
    signups: int
    first_purchases: int
    conversion_rate: float
    conversion_low: float
    conversion_high: float
    revenue: Decimal
    reward_cost: Decimal
    cost_per_acquisition: Decimal | None
    p_value: float | None


@dataclass(frozen=True, slots=True)
class ExperimentReport:
    """An experiment's variants side by side, the control first (``variants[0]``)."""

    key: str
    control: str
    variants: tuple[VariantReport, ...]
    #: the confidence of the intervals (0.95)
    confidence: float = CONFIDENCE

    def variant(self, name: str) -> VariantReport:
        """The report of variant ``name``.

        :raises KeyError: the experiment has no such variant.
        """
        for entry in self.variants:
            if entry.variant == name:
                return entry
        raise KeyError(name)


def _money(rows: Iterable[Any]) -> dict[str | None, Decimal]:
    totals: dict[str | None, Decimal] = defaultdict(Decimal)
    for variant, currency, units in rows:
        totals[variant] += from_minor(int(units or 0), currency)
    return totals


def _counts(rows: Iterable[Any]) -> dict[str | None, int]:
    return {variant: int(number) for variant, number in rows}


def experiment_report(connection: Connection, experiment: Experiment) -> ExperimentReport:
    """Every variant of ``experiment``, from the variants stored on visits and referrals
    (see :class:`~refkit.VariantReport` for each figure)."""
    visit_counts: dict[str | None, int] = _counts(
        connection.execute(
            select(visits.c.variant, func.count())
            .where(visits.c.variant.is_not(None))
            .group_by(visits.c.variant)
        ).all()
    )
    signup_counts: dict[str | None, int] = _counts(
        connection.execute(
            select(referrals.c.variant, func.count())
            .where(referrals.c.variant.is_not(None))
            .group_by(referrals.c.variant)
        ).all()
    )
    bought = and_(
        conversions.c.customer_id == referrals.c.referee_id,
        conversions.c.referrer_id.is_not(None),
    )
    cohort = referrals.c.variant.is_not(None)
    buyer_counts: dict[str | None, int] = _counts(
        connection.execute(
            select(referrals.c.variant, func.count(func.distinct(referrals.c.referee_id)))
            .select_from(referrals.join(conversions, bought))
            .where(cohort)
            .group_by(referrals.c.variant)
        ).all()
    )
    revenue = _money(
        connection.execute(
            select(referrals.c.variant, conversions.c.currency, func.sum(NET))
            .select_from(referrals.join(conversions, bought))
            .where(cohort)
            .group_by(referrals.c.variant, conversions.c.currency)
        ).all()
    )
    reward_rows = connection.execute(
        select(referrals.c.variant, rewards.c.currency, func.sum(rewards.c.value_minor))
        .select_from(referrals.join(rewards, rewards.c.referee_id == referrals.c.referee_id))
        .where(cohort, counted(), rewards.c.currency.is_not(None))
        .group_by(referrals.c.variant, rewards.c.currency)
    ).all()
    claims = discount_claims
    discount_rows = connection.execute(
        select(referrals.c.variant, claims.c.currency, func.sum(claims.c.discount_minor))
        .select_from(referrals.join(claims, claims.c.referee_id == referrals.c.referee_id))
        .where(cohort, claims.c.status == "used")
        .group_by(referrals.c.variant, claims.c.currency)
    ).all()
    cost = _money([*reward_rows, *discount_rows])

    control = experiment.control
    control_buyers = int(buyer_counts.get(control, 0))
    control_signups = int(signup_counts.get(control, 0))
    entries = []
    for name in experiment.names:
        signups = int(signup_counts.get(name, 0))
        buyers = int(buyer_counts.get(name, 0))
        low, high = wilson_interval(buyers, signups)
        spent = cost.get(name, Decimal(0))
        entries.append(
            VariantReport(
                variant=name,
                visits=int(visit_counts.get(name, 0)),
                signups=signups,
                first_purchases=buyers,
                conversion_rate=buyers / signups if signups else 0.0,
                conversion_low=low,
                conversion_high=high,
                revenue=revenue.get(name, Decimal(0)),
                reward_cost=spent,
                cost_per_acquisition=spent / buyers if buyers else None,
                p_value=None
                if name == control
                else two_proportion_p_value(control_buyers, control_signups, buyers, signups),
            )
        )
    return ExperimentReport(key=experiment.key, control=control, variants=tuple(entries))
