"""Rewards (../shared/API.md, Core): the promises, the earned rewards, and a program without
rules.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

import refkit

from .support.contract import (
    Program,
    refer,
)

# -- rewards: promises and earned rewards --------------------------------------------------


def test_reward_constructors_describe_the_promise() -> None:
    assert refkit.Reward.percent(10, cap=Decimal("50")).kind == "percent"
    assert refkit.Reward.fixed(Decimal("5"), "EUR").kind == "fixed"
    assert refkit.Reward.points(100).kind == "points"


def test_percent_reward_is_a_percentage_of_the_order_amount_in_the_orders_currency(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")))
    )
    for referee, amount, currency, value in [
        ("bob", "123.45", "usd", Decimal("12.34")),  # banker's rounding to the cent
        ("carol", "434", "JPY", Decimal("43")),  # whole yen
        ("dave", "10000", "EUR", Decimal("50")),  # the cap
    ]:
        refer(program, referee)
        (reward,) = program.record_conversion(f"o-{referee}", referee, amount, currency).rewards
        assert (reward.kind, reward.value, reward.currency) == ("percent", value, currency.upper())


def test_earned_reward_has_the_contract_fields(example: Program) -> None:
    refer(example, "bob")
    referrer, referee = example.record_conversion("o1", "bob", Decimal("100"), "EUR").rewards
    assert (referrer.beneficiary_id, referrer.role, referrer.kind, referrer.value) == (
        "alice",
        "referrer",
        "percent",
        Decimal("10.00"),
    )
    assert (referrer.currency, referrer.status, referrer.order_id) == ("EUR", "pending", "o1")
    assert (referee.beneficiary_id, referee.role, referee.kind, referee.value) == (
        "bob",
        "referee",
        "fixed",
        Decimal("5"),
    )


def test_points_rewards_have_no_currency(make_program: Callable[..., Program]) -> None:
    program = make_program(rules=refkit.RewardRules(referee_reward=refkit.Reward.points(100)))
    refer(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", "30", "EUR").rewards
    assert (reward.role, reward.kind, reward.value, reward.currency) == (
        "referee",
        "points",
        100,
        None,
    )


def test_a_fixed_reward_with_more_decimals_than_its_currency_is_refused_up_front() -> None:
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(Decimal("5.555"), "EUR")


def test_a_cap_with_more_decimals_than_the_order_currency_still_records(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(50, cap="10.555"))
    )
    refer(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", "100", "JPY").rewards
    assert reward.value == Decimal("10")


def test_without_rules_a_program_tracks_visits_referrals_and_conversions_and_earns_no_rewards(
    program: Program, clock: refkit.FrozenClock
) -> None:
    program.record_visit(program.code_for("alice"))
    refer(program, "bob")
    conversion = program.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert conversion.referrer_id == "alice"
    assert len(conversion.rewards) == 0
    stats = program.stats_for("alice")
    assert (stats.visits, stats.signups, stats.conversions, stats.revenue) == (
        1,
        1,
        1,
        Decimal("100"),
    )
    assert program.approve_due(now=clock() + timedelta(days=365)) == []
    assert program.summary().reward_cost == 0
