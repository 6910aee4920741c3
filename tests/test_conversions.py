"""Conversions: idempotent by order id, guest checkout, reasons, validation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules

DOUBLE = RewardRules(
    referrer_reward=Reward.percent(10, cap=Decimal("50")),
    referee_reward=Reward.fixed(Decimal("5"), "EUR"),
)


@pytest.fixture
def rewarding(make_program) -> refkit.ReferralProgram:
    return make_program(rules=DOUBLE)  # type: ignore[no-any-return]


def test_unreferred_purchase_earns_nothing(rewarding: refkit.ReferralProgram) -> None:
    conversion = rewarding.record_conversion("o1", "dave", Decimal("30"), "EUR")
    assert conversion.referrer_id is None
    assert conversion.rewards == ()
    assert conversion.reasons == ("not_referred",)


def test_referred_purchase_earns_both_sides(rewarding: refkit.ReferralProgram, clock) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    conversion = rewarding.record_conversion("o1", "bob", Decimal("120.00"), "eur")
    assert conversion.currency == "EUR"
    assert conversion.amount == Decimal("120.00")
    assert conversion.referrer_id == "alice"
    assert conversion.created_at == clock()
    referrer, referee = conversion.rewards
    assert (referrer.beneficiary_id, referrer.role, referrer.kind) == (
        "alice",
        "referrer",
        "percent",
    )
    assert (referrer.value, referrer.currency, referrer.status) == (
        Decimal("12.00"),
        "EUR",
        "pending",
    )
    assert (referee.beneficiary_id, referee.role, referee.kind) == ("bob", "referee", "fixed")
    assert (referee.value, referee.order_id) == (Decimal("5.00"), "o1")
    assert conversion.reasons == ("referrer_rewarded", "referee_rewarded")


def test_percent_cap(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    conversion = rewarding.record_conversion("o1", "bob", Decimal("10000"), "EUR")
    assert conversion.rewards[0].value == Decimal("50")


def test_replay_returns_the_stored_conversion_and_creates_nothing(
    rewarding: refkit.ReferralProgram, clock
) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    created = []
    rewarding.on("reward.created", created.append)
    first = rewarding.record_conversion("o1", "bob", Decimal("100"), "EUR")
    clock.advance(hours=1)
    again = rewarding.record_conversion("o1", "bob", "100.00", "eur")
    assert again == first
    assert len(created) == 2
    assert len(rewarding.rewards()) == 2


@pytest.mark.parametrize(
    ("customer", "amount", "currency"),
    [("carol", "100", "EUR"), ("bob", "101", "EUR"), ("bob", "100", "USD")],
)
def test_same_order_with_other_details_conflicts(
    rewarding: refkit.ReferralProgram, customer: str, amount: str, currency: str
) -> None:
    rewarding.record_conversion("o1", "bob", Decimal("100"), "EUR")
    with pytest.raises(refkit.ConflictError) as caught:
        rewarding.record_conversion("o1", customer, amount, currency)
    assert caught.value.order_id == "o1"
    assert rewarding.conversion("o1").customer_id == "bob"  # type: ignore[union-attr]


def test_one_reward_per_referee_however_many_orders(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    rewarding.record_conversion("o1", "bob", Decimal("100"), "EUR")
    second = rewarding.record_conversion("o2", "bob", Decimal("100"), "EUR")
    assert second.rewards == ()
    assert second.reasons == ("already_rewarded",)
    assert second.referrer_id == "alice"


def test_guest_checkout_binds_through_a_typed_code(rewarding: refkit.ReferralProgram) -> None:
    code = rewarding.code_for("alice")
    conversion = rewarding.record_conversion("o1", "guest-1", Decimal("40"), "EUR", code=code)
    assert conversion.referrer_id == "alice"
    assert rewarding.referral_for("guest-1").source == "code"  # type: ignore[union-attr]
    assert len(conversion.rewards) == 2


def test_typed_code_never_replaces_an_existing_referral(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    conversion = rewarding.record_conversion(
        "o1", "bob", Decimal("40"), "EUR", code=rewarding.code_for("carol")
    )
    assert conversion.referrer_id == "alice"
    assert "code_ignored_already_referred" in conversion.reasons


def test_own_code_at_checkout_is_ignored(rewarding: refkit.ReferralProgram) -> None:
    conversion = rewarding.record_conversion(
        "o1", "alice", Decimal("40"), "EUR", code=rewarding.code_for("alice")
    )
    assert conversion.referrer_id is None
    assert conversion.rewards == ()
    assert conversion.reasons == ("self_referral", "not_referred")


def test_invalid_code_at_checkout_stores_nothing(rewarding: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.InvalidCode):
        rewarding.record_conversion("o1", "bob", Decimal("40"), "EUR", code="BOGUS")
    assert rewarding.conversion("o1") is None


def test_one_level_only(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    rewarding.attribute("carol", rewarding.code_for("bob"))
    conversion = rewarding.record_conversion("o1", "carol", Decimal("100"), "EUR")
    assert {r.beneficiary_id for r in conversion.rewards} == {"bob", "carol"}
    assert rewarding.stats_for("alice").rewards == {}


def test_without_rules_conversions_are_tracked_but_earn_nothing(
    program: refkit.ReferralProgram,
) -> None:
    program.attribute("bob", program.code_for("alice"))
    conversion = program.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert (conversion.referrer_id, conversion.rewards, conversion.reasons) == (
        "alice",
        (),
        ("no_rules",),
    )
    assert program.stats_for("alice").conversions == 1


@pytest.mark.parametrize(
    "amount",
    [
        float("nan"),
        float("inf"),
        -1.0,
        1e13,
        True,
        Decimal("NaN"),
        Decimal("Infinity"),
        Decimal("-1"),
        "abc",
        "",
        None,
        Decimal(10) ** 12 + 1,
        Decimal("9.999"),
        "1e400",
    ],
)
def test_bad_amounts_are_refused_and_nothing_stored(
    rewarding: refkit.ReferralProgram, amount: object
) -> None:
    with pytest.raises(refkit.ValidationError):
        rewarding.record_conversion("o1", "bob", amount, "EUR")  # type: ignore[arg-type]
    assert rewarding.conversion("o1") is None


@pytest.mark.parametrize("currency", ["EURO", "E1R", "€UR", "", None, 978, "XYZ"])
def test_bad_currencies_are_refused(rewarding: refkit.ReferralProgram, currency: object) -> None:
    with pytest.raises(refkit.ValidationError):
        rewarding.record_conversion("o1", "bob", Decimal("1"), currency)  # type: ignore[arg-type]
    assert rewarding.conversion("o1") is None


def test_amounts_accept_int_and_str(rewarding: refkit.ReferralProgram) -> None:
    assert rewarding.record_conversion(1, 2, 30, "usd").amount == Decimal("30.00")
    assert rewarding.record_conversion("o2", "x", "19.99", "USD").amount == Decimal("19.99")


def test_currency_minor_units(rewarding: refkit.ReferralProgram) -> None:
    assert rewarding.record_conversion("o1", "a", 1500, "JPY").amount == Decimal("1500")
    assert rewarding.record_conversion("o2", "b", "1.234", "BHD").amount == Decimal("1.234")
    with pytest.raises(refkit.ValidationError):
        rewarding.record_conversion("o3", "c", "1.5", "JPY")


def test_largest_amount_is_stored_exactly(rewarding: refkit.ReferralProgram) -> None:
    big = Decimal(10) ** 12
    assert rewarding.record_conversion("o1", "a", big, "EUR").amount == big
    assert rewarding.conversion("o1").amount == big  # type: ignore[union-attr]


def test_zero_amount_orders_are_recorded_without_rewards(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    conversion = rewarding.record_conversion("o1", "bob", 0, "EUR")
    # Issue 14: an order of 0.00 no longer earns the fixed referee reward.
    assert conversion.rewards == ()
    assert conversion.reasons == ("zero_amount",)


def test_naive_conversion_time_is_refused(rewarding: refkit.ReferralProgram, clock) -> None:
    with pytest.raises(refkit.ValidationError):
        rewarding.record_conversion("o1", "b", 1, "EUR", at=clock().replace(tzinfo=None))
    assert rewarding.conversion("o1") is None


def test_conversion_time_can_be_given(rewarding: refkit.ReferralProgram, clock) -> None:
    at = clock() - timedelta(days=3)
    assert rewarding.record_conversion("o1", "b", 1, "EUR", at=at).created_at == at


FIRST_ONLY = RewardRules(
    referrer_reward=Reward.fixed(Decimal("5"), "EUR"),
    referee_reward=Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
    min_order_amount=Decimal("20"),
)


def test_the_first_purchase_is_the_earliest_by_at_not_the_first_recorded(
    make_program, clock: refkit.FrozenClock
) -> None:
    """Issue 13 finding 9: a small order dated today is recorded first and earns nothing
    (below the minimum); an order dated two days ago arrives later (a late webhook): it is
    the first purchase, and earns the rewards (it used to be "not_first_purchase")."""
    program = make_program(FIRST_ONLY)
    program.attribute("bob", program.code_for("alice"), at=clock() - timedelta(days=10))
    small = program.record_conversion("today", "bob", "10", "EUR", at=clock())
    assert small.reasons == ("below_min_order",)
    earlier = program.record_conversion(
        "before", "bob", "50", "EUR", at=clock() - timedelta(days=2)
    )
    assert sorted(r.role for r in earlier.rewards) == ["referee", "referrer"]
    later = program.record_conversion("after", "bob", "50", "EUR", at=clock() + timedelta(days=1))
    assert later.reasons == ("not_first_purchase",)
