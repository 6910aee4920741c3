"""Float amounts (what a ``db.Float`` price column gives) are accepted: read from their shortest
repr and rounded half to even to the currency's minor unit, on every store."""

from __future__ import annotations

from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules
from refkit.money import to_amount

RULES = RewardRules(
    referrer_reward=Reward.percent(10),
    referee_reward=Reward.fixed(5.0, "EUR"),
    min_order_amount=10.0,  # type: ignore[arg-type]
)


@pytest.fixture
def rewarding(make_program) -> refkit.ReferralProgram:  # type: ignore[no-untyped-def]
    program: refkit.ReferralProgram = make_program(rules=RULES)
    program.attribute("bob", program.code_for("alice"))
    return program


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        (19.99, "EUR", Decimal("19.99")),
        (0.1 + 0.2, "EUR", Decimal("0.30")),  # 0.30000000000000004
        (
            2.675,
            "EUR",
            Decimal("2.68"),
        ),  # shortest repr "2.675", half even: the binary value is 2.67499...
        (0.125, "EUR", Decimal("0.12")),  # half to even
        (0.135, "EUR", Decimal("0.14")),
        (1234.5, "JPY", Decimal("1234")),  # half to even, no minor unit
        (1.0005, "BHD", Decimal("1.000")),
        (-0.0, "EUR", Decimal("0.00")),
        (1e12, "EUR", Decimal("1000000000000.00")),
    ],
)
def test_a_float_is_rounded_to_the_currencys_minor_unit(
    value: float, currency: str, expected: Decimal
) -> None:
    amount = to_amount(value, currency=currency)
    assert amount == expected
    assert str(amount) == str(expected)


def test_without_a_currency_a_float_is_read_from_its_shortest_repr() -> None:
    assert str(to_amount(19.99)) == "19.99"
    assert str(to_amount(1.5, "percent rate")) == "1.5"


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), float("-inf"), -0.01, 1e12 + 1, 1e300]
)
def test_bad_floats_are_still_refused(value: float) -> None:
    with pytest.raises(refkit.ValidationError, match="amount"):
        to_amount(value, currency="EUR")


def test_a_float_order_amount_is_recorded_on_every_store(
    rewarding: refkit.ReferralProgram,
) -> None:
    conversion = rewarding.record_conversion("o1", "bob", 19.99 * 3, "EUR")  # 59.97000000000001
    assert conversion.amount == Decimal("59.97")
    assert {(r.role, r.value) for r in conversion.rewards} == {
        ("referrer", Decimal("6.00")),
        ("referee", Decimal("5.00")),
    }
    # Idempotent: the same float again is the same order, not a conflict.
    again = rewarding.record_conversion("o1", "bob", 59.97000000000001, "eur")
    assert again == conversion
    stored = rewarding.conversion("o1")
    assert stored is not None
    assert stored.amount == Decimal("59.97")


def test_a_float_below_the_minimum_order_earns_nothing(rewarding: refkit.ReferralProgram) -> None:
    conversion = rewarding.record_conversion("o1", "bob", 9.99, "EUR")
    assert conversion.rewards == ()
    assert "below_min_order" in conversion.reasons


def test_a_bad_float_stores_nothing(rewarding: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.ValidationError):
        rewarding.record_conversion("o1", "bob", float("nan"), "EUR")
    assert rewarding.conversion("o1") is None


def test_a_partial_refund_takes_a_float(rewarding: refkit.ReferralProgram) -> None:
    rewarding.record_conversion("o1", "bob", 100.0, "EUR")
    changed = rewarding.refund("o1", 50.004)
    assert {(r.role, r.value) for r in changed} == {("referrer", Decimal("5.00"))}


def test_a_float_percent_rate_and_fixed_reward_are_accepted() -> None:
    assert Reward.percent(7.5).value == Decimal("7.5")
    assert Reward.fixed(4.999, "EUR").value == Decimal("5.00")
