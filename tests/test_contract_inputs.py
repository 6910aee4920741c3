"""Inputs (../shared/API.md, Core): user ids, times, amounts and currencies, accepted or
refused before anything is stored.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

import refkit

from .support.contract import (
    Program,
    refer,
)

# -- user ids ------------------------------------------------------------------------------


def test_int_user_ids_are_accepted_and_turned_into_strings(every_order: Program) -> None:
    assert every_order.code_for(42) == every_order.code_for("42")
    assert every_order.resolve(every_order.code_for(42)) == "42"
    referral = every_order.attribute(7, every_order.code_for(42))
    assert (referral.referee_id, referral.referrer_id) == ("7", "42")
    conversion = every_order.record_conversion(1001, 7, "30", "EUR")
    assert (conversion.order_id, conversion.customer_id, conversion.referrer_id) == (
        "1001",
        "7",
        "42",
    )
    assert {r.beneficiary_id for r in conversion.rewards} == {"7", "42"}
    assert every_order.stats_for(42).signups == 1
    assert every_order.leaderboard()[0].referrer_id == "42"


@pytest.mark.parametrize(
    "user_id", ["a", "x" * 255, "é" * 255, "émile", "user@example.com", "a b", 0, 10**254]
)
def test_user_ids_of_1_to_255_characters_are_accepted(program: Program, user_id: object) -> None:
    assert program.resolve(program.code_for(user_id)) == str(user_id)  # type: ignore[arg-type]
    assert refer(program, user_id, "zed").referee_id == str(user_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "x" * 256,
        "a\x00b",
        "a\nb",
        "\t",
        "a\x7fb",
        "a\x85b",
        "a\ud800b",  # a lone surrogate: not text any database can store
        10**256,
        pytest.param(10**5000, id="int-of-5001-digits"),  # beyond Python's int-to-str limit
        None,
        1.5,
        True,
    ],
)
def test_user_ids_outside_1_to_255_characters_or_with_control_characters_are_refused(
    every_order: Program, user_id: object
) -> None:
    code = every_order.code_for("alice")
    calls: list[Callable[[], object]] = [
        lambda: every_order.code_for(user_id),  # type: ignore[arg-type]
        lambda: every_order.attribute(user_id, code),  # type: ignore[arg-type]
        lambda: every_order.record_conversion("o1", user_id, "30", "EUR"),  # type: ignore[arg-type]
        lambda: every_order.stats_for(user_id),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(refkit.ValidationError):
            call()
    summary = every_order.summary()
    assert (summary.referrers, summary.signups, summary.conversions) == (1, 0, 0)


# -- times ---------------------------------------------------------------------------------


def test_times_are_timezone_aware_datetimes(every_order: Program) -> None:
    paris = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 1, 14, 0, tzinfo=paris)
    referral = every_order.attribute("bob", every_order.code_for("alice"), at=at)
    conversion = every_order.record_conversion("o1", "bob", "30", "EUR", at=at)
    visit = every_order.record_visit(every_order.code_for("alice"), at=at)
    for when in (referral.created_at, conversion.created_at, visit.created_at):
        assert when.tzinfo is not None
        assert when == at  # the same instant
    assert conversion.rewards[0].created_at.utcoffset() is not None


def test_naive_datetimes_are_refused_with_validation_error_and_store_nothing(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    naive = clock().replace(tzinfo=None)
    code = every_order.code_for("alice")
    calls: list[Callable[[], object]] = [
        lambda: every_order.record_visit(code, at=naive),
        lambda: every_order.attribute("bob", code, at=naive),
        lambda: every_order.record_conversion("o1", "bob", "30", "EUR", at=naive),
        lambda: every_order.approve_due(now=naive),
        lambda: every_order.summary(since=naive),
        lambda: every_order.summary(until=naive),
    ]
    for call in calls:
        with pytest.raises(refkit.ValidationError, match="naive"):
            call()
    summary = every_order.summary()
    assert (summary.visits, summary.signups, summary.conversions) == (0, 0, 0)


def test_a_clock_giving_naive_times_is_refused(make_program: Callable[..., Program]) -> None:
    program = make_program(clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(refkit.ValidationError):
        program.record_conversion("o1", "bob", "30", "EUR")


# -- amounts and currencies ----------------------------------------------------------------


@pytest.mark.parametrize("amount", [Decimal("19.99"), 20, "19.99", " 19.99 "])
def test_amounts_are_decimals_and_accept_int_and_numeric_str(
    every_order: Program, amount: object
) -> None:
    conversion = every_order.record_conversion("o1", "bob", amount, "EUR")  # type: ignore[arg-type]
    assert isinstance(conversion.amount, Decimal)
    assert conversion.amount == Decimal(str(amount).strip())


@pytest.mark.parametrize("currency", ["EUR", "JPY", "BHD", "USD"])
def test_amounts_up_to_10_to_the_12_are_accepted(every_order: Program, currency: str) -> None:
    big = Decimal(10) ** 12
    assert every_order.record_conversion("o1", "bob", big, currency).amount == big


def test_amounts_up_to_10_to_the_12_are_accepted_in_four_decimal_currencies(
    every_order: Program,
) -> None:
    big = Decimal(10) ** 12
    assert every_order.record_conversion("o1", "bob", big, "CLF").amount == big


@pytest.mark.parametrize(
    "amount",
    [
        float("nan"),
        -1.0,
        True,
        False,
        Decimal("NaN"),
        Decimal("sNaN"),
        "NaN",
        Decimal("Infinity"),
        "-Infinity",
        Decimal("-0.01"),
        -1,
        Decimal(10) ** 12 + Decimal("0.01"),
        10**13,
        "1e400",
        "abc",
        "",
        None,
    ],
)
def test_bad_amounts_are_refused_with_validation_error_before_anything_is_stored(
    every_order: Program, amount: object
) -> None:
    refer(every_order, "bob")
    with pytest.raises(refkit.ValidationError):
        every_order.record_conversion("o1", "bob", amount, "EUR")  # type: ignore[arg-type]
    assert every_order.stats_for("alice").conversions == 0
    # nothing was stored under o1: other details are no conflict
    assert every_order.record_conversion("o1", "carol", "1", "USD").customer_id == "carol"


@pytest.mark.parametrize("amount", [float("nan"), True, Decimal("NaN"), -1, 10**13])
def test_bad_amounts_are_refused_everywhere_amounts_are_taken(amount: object) -> None:
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(amount, "EUR")  # type: ignore[arg-type]
    with pytest.raises(refkit.RefkitError):
        refkit.RewardRules(min_order_amount=amount)  # type: ignore[arg-type]


def test_bad_refund_amounts_are_refused(every_order: Program) -> None:
    every_order.record_conversion("o1", "bob", "30", "EUR")
    for amount in (float("inf"), True, Decimal("NaN"), -1, "31"):
        with pytest.raises(refkit.ValidationError):
            every_order.refund("o1", amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "currency", ["EURO", "EU", "E1R", "€UR", "\uff25\uff35\uff32", "", " EUR", None, 978]
)
def test_currencies_that_are_not_three_ascii_letters_are_refused(
    every_order: Program, currency: object
) -> None:
    with pytest.raises(refkit.ValidationError):
        every_order.record_conversion("o1", "bob", "30", currency)  # type: ignore[arg-type]
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(5, currency)  # type: ignore[arg-type]
    assert every_order.record_conversion("o1", "carol", "1", "USD").customer_id == "carol"


def test_currencies_that_are_not_iso_4217_are_refused(every_order: Program) -> None:
    with pytest.raises(refkit.ValidationError, match="ISO 4217"):
        every_order.record_conversion("o1", "bob", "30", "ABC")


@pytest.mark.parametrize("currency", ["eur", "Eur", "eUR", "EUR"])
def test_currencies_are_accepted_in_any_case_and_stored_upper_case(
    every_order: Program, currency: str
) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", "30", currency)
    assert conversion.currency == "EUR"
    assert {r.currency for r in conversion.rewards} == {"EUR"}
    assert refkit.Reward.fixed(5, currency).currency == "EUR"
