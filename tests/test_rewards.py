"""Reward rules, hold periods, approvals, refunds and the ledger."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules


def referred(program: refkit.ReferralProgram, referee: str, referrer: str = "alice") -> None:
    program.attribute(referee, program.code_for(referrer))


def test_reward_constructors() -> None:
    assert Reward.percent(10, cap=Decimal("50")) == Reward(
        "percent", Decimal(10), None, Decimal(50)
    )
    assert Reward.fixed("5", "eur") == Reward("fixed", Decimal(5), "EUR")
    assert Reward.points(100) == Reward("points", Decimal(100))


@pytest.mark.parametrize(
    "build",
    [
        lambda: Reward.percent(0),
        lambda: Reward.percent(101),
        lambda: Reward.percent(float("nan")),
        lambda: Reward.fixed(-1, "EUR"),
        lambda: Reward.fixed(5, "EURO"),
        lambda: Reward.points(0),
        lambda: Reward.points(True),
        lambda: Reward.points(1.0),
    ],
)
def test_bad_rewards_are_refused(build) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(refkit.ValidationError):
        build()


@pytest.mark.parametrize(
    "options",
    [
        {"referrer_reward": "10%"},
        {"hold_period": None},
        {"hold_period": timedelta(days=-1)},
        {"max_rewards_per_referrer": -1},
        {"max_rewards_per_referrer": 1.5},
        {"attribution_window": 30},
    ],
)
def test_bad_rules_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(refkit.RefkitError):
        RewardRules(**options)  # type: ignore[arg-type]


def test_points_rewards(make_program) -> None:
    program = make_program(rules=RewardRules(referrer_reward=Reward.points(100)))
    referred(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", 10, "EUR").rewards
    assert (reward.kind, reward.value, reward.currency) == ("points", Decimal(100), None)
    assert program.stats_for("alice").points == {"pending": 100}


def test_min_order_amount(make_program) -> None:
    program = make_program(
        rules=RewardRules(referrer_reward=Reward.fixed(5, "EUR"), min_order_amount=Decimal("20"))
    )
    referred(program, "bob")
    assert program.record_conversion("o1", "bob", "19.99", "EUR").reasons == ("below_min_order",)
    assert program.record_conversion("o2", "bob", "20.00", "EUR").reasons == ("referrer_rewarded",)


def test_first_purchase_only(make_program) -> None:
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.fixed(5, "EUR"),
            min_order_amount=Decimal("20"),
            first_purchase_only=True,
        )
    )
    referred(program, "bob")
    assert program.record_conversion("o1", "bob", 10, "EUR").reasons == ("below_min_order",)
    assert program.record_conversion("o2", "bob", 50, "EUR").reasons == ("not_first_purchase",)


def test_without_first_purchase_only_a_later_qualifying_order_earns(make_program) -> None:
    program = make_program(
        rules=RewardRules(referrer_reward=Reward.fixed(5, "EUR"), min_order_amount=Decimal("20"))
    )
    referred(program, "bob")
    program.record_conversion("o1", "bob", 10, "EUR")
    assert program.record_conversion("o2", "bob", 50, "EUR").rewards


def test_attribution_window(make_program, clock) -> None:
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.fixed(5, "EUR"), attribution_window=timedelta(days=30)
        )
    )
    referred(program, "bob")
    referred(program, "carol")
    clock.advance(days=30)
    assert program.record_conversion("o1", "bob", 50, "EUR").rewards
    clock.advance(seconds=1)
    assert program.record_conversion("o2", "carol", 50, "EUR").reasons == ("outside_window",)


def test_cap_per_referrer(make_program) -> None:
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.fixed(5, "EUR"),
            referee_reward=Reward.fixed(5, "EUR"),
            max_rewards_per_referrer=2,
        )
    )
    for index in range(4):
        referred(program, f"friend-{index}")
    results = [program.record_conversion(f"o{i}", f"friend-{i}", 50, "EUR") for i in range(4)]
    assert [len(r.rewards) for r in results] == [2, 2, 1, 1]
    assert "cap_reached" in results[3].reasons
    assert results[3].rewards[0].role == "referee"
    assert len(program.rewards(user_id="alice")) == 2


def test_rewards_wait_for_the_hold_period(make_program, clock) -> None:
    program = make_program(
        rules=RewardRules(referrer_reward=Reward.fixed(5, "EUR"), hold_period=timedelta(days=14))
    )
    referred(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", 50, "EUR").rewards
    assert reward.due_at == clock() + timedelta(days=14)
    clock.advance(days=13, hours=23)
    assert program.approve_due() == []
    clock.advance(hours=1)
    (approved,) = program.approve_due()
    assert (approved.id, approved.status) == (reward.id, "approved")
    assert program.approve_due() == []
    assert program.stats_for("alice").balance == Decimal("5.00")


def test_approve_due_accepts_an_explicit_now(make_program, clock) -> None:
    program = make_program(
        rules=RewardRules(referrer_reward=Reward.fixed(5, "EUR"), hold_period=timedelta(days=1))
    )
    referred(program, "bob")
    program.record_conversion("o1", "bob", 50, "EUR")
    assert program.approve_due(clock() + timedelta(days=2))
    with pytest.raises(refkit.ValidationError):
        program.approve_due(clock().replace(tzinfo=None))


def test_manual_approve_and_revoke(make_program) -> None:
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.fixed(5, "EUR"),
            referee_reward=Reward.fixed(5, "EUR"),
            hold_period=timedelta(days=30),
        )
    )
    referred(program, "bob")
    first, second = program.record_conversion("o1", "bob", 50, "EUR").rewards
    assert program.approve(first.id).status == "approved"  # type: ignore[union-attr]
    assert program.approve(first.id) is None
    assert program.revoke(second.id).status == "revoked"  # type: ignore[union-attr]
    assert program.revoke(second.id) is None


@pytest.fixture
def percent_program(make_program) -> refkit.ReferralProgram:
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.percent(10),
            referee_reward=Reward.fixed(5, "EUR"),
            hold_period=timedelta(days=14),
        )
    )
    referred(program, "bob")
    program.record_conversion("o1", "bob", Decimal("200.00"), "EUR")
    return program  # type: ignore[no-any-return]


def test_full_refund_revokes_pending_rewards(percent_program: refkit.ReferralProgram) -> None:
    changed = percent_program.refund("o1")
    assert {(r.role, r.status) for r in changed} == {
        ("referrer", "revoked"),
        ("referee", "revoked"),
    }
    assert percent_program.stats_for("alice").rewards == {"revoked": Decimal("20.00")}
    assert percent_program.conversion("o1").refunded_amount == Decimal("200.00")  # type: ignore[union-attr]
    assert percent_program.refund("o1") == []


def test_partial_refund_reduces_percent_rewards_in_proportion(
    percent_program: refkit.ReferralProgram,
) -> None:
    (changed,) = percent_program.refund("o1", Decimal("50.00"))
    assert (changed.role, changed.value, changed.original_value) == (
        "referrer",
        Decimal("15.00"),
        Decimal("20.00"),
    )
    assert changed.status == "pending"
    (again,) = percent_program.refund("o1", Decimal("50.00"))
    assert again.value == Decimal("10.00")
    assert {r.status for r in percent_program.refund("o1")} == {"revoked"}


def test_refund_after_approval_reverses(percent_program: refkit.ReferralProgram, clock) -> None:
    clock.advance(days=14)
    assert len(percent_program.approve_due()) == 2
    clock.advance(days=1)
    (partial,) = percent_program.refund("o1", Decimal("100"))
    assert (partial.status, partial.value) == ("approved", Decimal("10.00"))
    assert percent_program.stats_for("alice").balance == Decimal("10.00")
    changed = percent_program.refund("o1")
    assert {r.status for r in changed} == {"reversed"}
    assert percent_program.stats_for("alice").balance == Decimal(0)
    kinds = [entry.kind for entry in percent_program.ledger("alice")]
    assert kinds == ["accrued", "approved", "adjusted", "reversed"]


@pytest.mark.parametrize("amount", [Decimal("200.01"), Decimal("-1"), float("nan"), "x"])
def test_bad_refunds_are_refused_and_change_nothing(
    percent_program: refkit.ReferralProgram, amount: object
) -> None:
    with pytest.raises(refkit.ValidationError):
        percent_program.refund("o1", amount)  # type: ignore[arg-type]
    assert percent_program.conversion("o1").refunded_amount == 0  # type: ignore[union-attr]
    assert [e.kind for e in percent_program.ledger()] == ["accrued", "accrued"]


def test_refund_of_an_unknown_order(percent_program: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.ValidationError):
        percent_program.refund("nope")


def test_ledger_sums_to_the_balances(percent_program: refkit.ReferralProgram, clock) -> None:
    percent_program.refund("o1", Decimal("30"))
    clock.advance(days=20)
    percent_program.approve_due()
    percent_program.refund("o1", Decimal("70"))
    for user in ("alice", "bob"):
        pending, approved = defaultdict(Decimal), defaultdict(Decimal)
        for entry in percent_program.ledger(user):
            pending[user] += entry.pending
            approved[user] += entry.approved
        stats = percent_program.stats_for(user)
        assert pending[user] == stats.rewards.get("pending", 0)
        assert approved[user] == stats.rewards.get("approved", 0)


def test_statement_for_a_past_date(percent_program: refkit.ReferralProgram, clock) -> None:
    start = clock()
    clock.advance(days=14)
    percent_program.approve_due()
    assert [e.kind for e in percent_program.ledger("alice", until=start)] == ["accrued"]
    assert len(percent_program.ledger("alice")) == 2
