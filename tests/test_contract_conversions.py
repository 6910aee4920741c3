"""Conversions (../shared/API.md, Core): ``record_conversion``, ``refund``, ``approve_due``
and the reasons that say why a conversion earned a reward or none.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest

import refkit

from .support.contract import (
    Program,
    refer,
)

# -- record_conversion ---------------------------------------------------------------------


def test_record_conversion_returns_the_conversion(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", Decimal("30.00"), "EUR")
    assert isinstance(conversion, refkit.Conversion)
    assert (conversion.order_id, conversion.customer_id, conversion.amount) == (
        "o1",
        "bob",
        Decimal("30.00"),
    )
    assert (conversion.currency, conversion.referrer_id, conversion.created_at) == (
        "EUR",
        "alice",
        clock(),
    )
    assert isinstance(conversion.reasons, Sequence)


def test_replaying_an_order_returns_the_stored_conversion_and_creates_nothing(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    created: list[object] = []
    every_order.on("reward.created", created.append)
    every_order.on("conversion.recorded", created.append)
    first = every_order.record_conversion("o1", "bob", Decimal("30"), "EUR")
    again = every_order.record_conversion("o1", "bob", Decimal("30"), "EUR")
    assert again == first
    assert len(again.rewards) == 2  # the rewards it created, still listed
    assert len(created) == 3  # one conversion and two rewards: nothing on the replay
    assert every_order.stats_for("alice").conversions == 1
    assert every_order.stats_for("alice").rewards["pending"] == Decimal("5.00")


def test_replay_with_the_same_values_spelled_differently_is_not_a_conflict(
    every_order: Program,
) -> None:
    first = every_order.record_conversion("o1", "bob", Decimal("30.00"), "EUR")
    assert every_order.record_conversion("o1", "bob", "30", "eur") == first
    assert every_order.record_conversion("o1", "bob", 30, "EUR") == first


@pytest.mark.parametrize(
    ("customer", "amount", "currency"),
    [("carol", "30", "EUR"), ("bob", "31", "EUR"), ("bob", "30", "USD")],
    ids=["customer", "amount", "currency"],
)
def test_same_order_id_with_other_details_raises_conflict_error(
    every_order: Program, customer: str, amount: str, currency: str
) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    with pytest.raises(refkit.ConflictError):
        every_order.record_conversion("o1", customer, amount, currency)
    assert every_order.stats_for("alice").conversions == 1


def test_code_at_checkout_binds_an_unbound_customer_first(every_order: Program) -> None:
    conversion = every_order.record_conversion(
        "o1", "guest", "30", "EUR", code=every_order.code_for("alice")
    )
    assert conversion.referrer_id == "alice"
    assert {r.beneficiary_id for r in conversion.rewards} == {"alice", "guest"}
    assert every_order.stats_for("alice").signups == 1
    with pytest.raises(refkit.AlreadyReferred):  # bound for good
        refer(every_order, "guest", "carol")


def test_code_at_checkout_does_not_rebind_a_bound_customer(every_order: Program) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion(
        "o1", "bob", "30", "EUR", code=every_order.code_for("carol")
    )
    assert conversion.referrer_id == "alice"
    assert every_order.stats_for("carol").signups == 0


def test_invalid_code_at_checkout_raises_invalid_code_and_stores_nothing(
    every_order: Program,
) -> None:
    with pytest.raises(refkit.InvalidCode):
        every_order.record_conversion("o1", "bob", "30", "EUR", code="NOT-A-CODE")
    assert every_order.record_conversion("o1", "carol", "99", "USD").customer_id == "carol"


def test_conversion_rewards_list_the_earned_rewards_and_are_empty_when_none(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    earned = every_order.record_conversion("o1", "bob", "30", "EUR").rewards
    assert isinstance(earned, Sequence)
    assert len(earned) == 2
    assert all(isinstance(reward, refkit.EarnedReward) for reward in earned)
    assert list(every_order.record_conversion("o2", "bob", "30", "EUR").rewards) == []
    assert len(every_order.record_conversion("o3", "dave", "30", "EUR").rewards) == 0


def test_conversion_referrer_id_is_none_when_not_referred(every_order: Program) -> None:
    assert every_order.record_conversion("o1", "dave", "30", "EUR").referrer_id is None


# -- refund --------------------------------------------------------------------------------


def test_full_refund_revokes_pending_rewards_and_returns_them(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    changed = every_order.refund("o1")
    assert isinstance(changed, list)
    assert sorted((r.role, r.status) for r in changed) == [
        ("referee", "revoked"),
        ("referrer", "revoked"),
    ]


def test_full_refund_reverses_approved_rewards(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.approve_due(now=clock())
    assert {r.status for r in every_order.refund("o1")} == {"reversed"}
    assert every_order.stats_for("alice").rewards["reversed"] == Decimal("5.00")
    assert every_order.stats_for("alice").rewards["approved"] == 0


def test_partial_refund_takes_an_amount_and_keeps_the_rewards(example: Program) -> None:
    # API.md does not say what a partial refund does to rewards: refkit lowers percent
    # rewards in proportion and leaves them pending; a full refund still revokes.
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("200.00"), "EUR")
    (changed,) = example.refund("o1", Decimal("50.00"))
    assert (changed.role, changed.status, changed.value) == ("referrer", "pending", Decimal("15"))
    assert {r.status for r in example.refund("o1", amount=Decimal("150.00"))} == {"revoked"}


def test_refund_never_deletes_history(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.refund("o1")
    replay = every_order.record_conversion("o1", "bob", "30", "EUR")
    assert {r.status for r in replay.rewards} == {"revoked"}
    assert every_order.stats_for("alice").conversions == 1
    assert every_order.stats_for("alice").rewards["revoked"] == Decimal("5.00")
    assert [entry.kind for entry in every_order.ledger("alice")] == ["accrued", "revoked"]


def test_refund_of_an_unrecorded_order_is_refused(every_order: Program) -> None:
    with pytest.raises(refkit.ValidationError, match="o404"):
        every_order.refund("o404")


# -- approve_due ---------------------------------------------------------------------------


def test_approve_due_approves_pending_rewards_whose_hold_period_has_passed(
    example: Program, clock: refkit.FrozenClock
) -> None:
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert example.approve_due(now=clock() + timedelta(days=13)) == []
    approved = example.approve_due(now=clock() + timedelta(days=14))
    assert isinstance(approved, list)
    assert sorted((r.role, r.status) for r in approved) == [
        ("referee", "approved"),
        ("referrer", "approved"),
    ]
    assert example.approve_due(now=clock() + timedelta(days=15)) == []


def test_approve_due_without_now_uses_the_current_time(
    example: Program, clock: refkit.FrozenClock
) -> None:
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert example.approve_due() == []
    clock.advance(days=14)
    assert len(example.approve_due()) == 2


# -- reasons: "why wasn't I rewarded?" -----------------------------------------------------


def _below_min_order(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    return program.record_conversion("o1", "bob", Decimal("19.99"), "EUR")


def _not_first_purchase(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    program.record_conversion("o1", "bob", Decimal("5"), "EUR")
    return program.record_conversion("o2", "bob", Decimal("100"), "EUR")


def _outside_window(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    clock.advance(days=31)
    return program.record_conversion("o1", "bob", Decimal("100"), "EUR")


def _not_referred(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    return program.record_conversion("o1", "dave", Decimal("100"), "EUR")


@pytest.mark.parametrize(
    ("reason", "scenario"),
    [
        ("below_min_order", _below_min_order),
        ("not_first_purchase", _not_first_purchase),
        ("outside_window", _outside_window),
        ("not_referred", _not_referred),
    ],
)
def test_conversion_reasons_say_why_no_reward_was_earned(
    example: Program,
    clock: refkit.FrozenClock,
    reason: str,
    scenario: Callable[[Program, refkit.FrozenClock], refkit.Conversion],
) -> None:
    conversion = scenario(example, clock)
    assert reason in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_say_already_rewarded(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    conversion = every_order.record_conversion("o2", "bob", "30", "EUR")
    assert "already_rewarded" in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_say_cap_reached(make_program: Callable[..., Program]) -> None:
    program = make_program(
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.points(100), max_rewards_per_referrer=1
        )
    )
    refer(program, "bob")
    refer(program, "carol")
    program.record_conversion("o1", "bob", "30", "EUR")
    conversion = program.record_conversion("o2", "carol", "30", "EUR")
    assert "cap_reached" in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_explain_a_reward_too(example: Program) -> None:
    refer(example, "bob")
    conversion = example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert len(conversion.reasons) > 0
