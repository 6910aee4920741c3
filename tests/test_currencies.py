"""Amounts in every currency: the rules' currency, per-currency caps and minimums,
``currency_mismatch``, ``zero_amount``, a reason for every role left without a reward, and
the summary's totals by currency."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules

MakeProgram = Callable[..., refkit.ReferralProgram]


def referred(program: refkit.ReferralProgram, referee: str, referrer: str = "alice") -> None:
    program.attribute(referee, program.code_for(referrer))


def test_a_plain_cap_is_in_the_rules_currency(make_program: MakeProgram) -> None:
    rules = RewardRules(currency="EUR", referrer_reward=Reward.percent(10, cap=Decimal("20")))
    program = make_program(rules)
    referred(program, "bob")
    referred(program, "carol")
    euros = program.record_conversion("o1", "bob", Decimal("1000"), "eur")
    assert [reward.value for reward in euros.rewards] == [Decimal("20.00")]
    yen = program.record_conversion("o2", "carol", 100_000, "JPY")
    assert yen.rewards == ()
    assert yen.reasons == ("currency_mismatch",)


def test_a_cap_of_20_never_pays_20_yen(make_program: MakeProgram) -> None:
    rules = RewardRules(
        currency="EUR", referrer_reward=Reward.percent(10, cap={"EUR": 20, "jpy": 3000})
    )
    program = make_program(rules)
    for referee, amount, currency, expected in (
        ("bob", 1000, "EUR", Decimal("20.00")),
        ("carol", 100_000, "JPY", Decimal("3000")),
        ("dave", 1000, "JPY", Decimal("100")),
    ):
        referred(program, referee)
        conversion = program.record_conversion(f"o-{referee}", referee, amount, currency)
        assert [(r.value, r.currency) for r in conversion.rewards] == [(expected, currency)]
    referred(program, "erin")
    usd = program.record_conversion("o-erin", "erin", 1000, "USD")
    assert (usd.rewards, usd.reasons) == ((), ("currency_mismatch",))


def test_a_minimum_order_is_in_the_rules_currency(make_program: MakeProgram) -> None:
    rules = RewardRules(
        currency="EUR", referrer_reward=Reward.fixed(5, "EUR"), min_order_amount=Decimal("10")
    )
    program = make_program(rules)
    referred(program, "bob")
    referred(program, "carol")
    referred(program, "dave")
    assert program.record_conversion("o1", "bob", 11, "JPY").reasons == ("currency_mismatch",)
    assert program.record_conversion("o2", "carol", "9.99", "EUR").reasons == ("below_min_order",)
    assert program.record_conversion("o3", "dave", 10, "EUR").reasons == ("referrer_rewarded",)


def test_a_minimum_order_per_currency(make_program: MakeProgram) -> None:
    rules = RewardRules(
        currency="EUR",
        referrer_reward=Reward.percent(10),
        min_order_amount={"EUR": 10, "JPY": 1500},
    )
    program = make_program(rules)
    referred(program, "bob")
    referred(program, "carol")
    assert program.record_conversion("o1", "bob", 1499, "JPY").reasons == ("below_min_order",)
    earned = program.record_conversion("o2", "carol", 1500, "JPY")
    assert [reward.value for reward in earned.rewards] == [Decimal(150)]


def test_without_a_rules_currency_plain_amounts_apply_in_every_currency(
    make_program: MakeProgram,
) -> None:
    """The single-currency mode of earlier releases, kept: documented in rules.rst."""
    rules = RewardRules(referrer_reward=Reward.percent(10, cap=Decimal("50")))
    assert rules.covers("JPY")
    assert rules.covers("EUR")
    program = make_program(rules)
    referred(program, "bob")
    yen = program.record_conversion("o1", "bob", 100_000, "JPY")
    assert [reward.value for reward in yen.rewards] == [Decimal(50)]


def test_a_rules_currency_without_amounts_covers_that_currency_only() -> None:
    rules = RewardRules(currency="eur", referrer_reward=Reward.percent(10))
    assert rules.currency == "EUR"
    assert rules.covers("EUR")
    assert not rules.covers("USD")


@pytest.mark.parametrize(
    "options",
    [
        {"currency": "EURO"},
        {"currency": "XXY"},
        {"min_order_amount": {}},
        {"min_order_amount": {"EUR": -1}},
        {"min_order_amount": {"EURO": 1}},
    ],
)
def test_bad_currency_rules_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(refkit.ConfigurationError):
        RewardRules(**options)  # type: ignore[arg-type]


@pytest.mark.parametrize("cap", [{}, {"EUR": 0}, {"EUR": "x"}, {"EURO": 1}])
def test_bad_cap_mappings_are_refused(cap: object) -> None:
    with pytest.raises(refkit.ValidationError):
        Reward.percent(10, cap=cap)  # type: ignore[arg-type]


def test_cap_mappings_are_frozen_values() -> None:
    one = Reward.percent(10, cap={"EUR": 20, "JPY": 3000})
    other = Reward.percent(10, cap={"jpy": "3000", "eur": Decimal("20")})
    assert one == other
    assert hash(one) == hash(other)
    assert dict(one.cap) == {"EUR": Decimal(20), "JPY": Decimal(3000)}  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "rules",
    [
        RewardRules(referrer_reward=Reward.percent(10)),
        RewardRules(referrer_reward=Reward.fixed(5, "EUR")),
        RewardRules(referrer_reward=Reward.points(10), referee_reward=Reward.fixed(5, "EUR")),
    ],
)
def test_an_order_of_zero_earns_nothing(make_program: MakeProgram, rules: RewardRules) -> None:
    program = make_program(rules)
    referred(program, "bob")
    conversion = program.record_conversion("o1", "bob", 0, "EUR")
    assert (conversion.rewards, conversion.reasons) == ((), ("zero_amount",))


def test_a_percent_that_rounds_to_nothing_says_so(make_program: MakeProgram) -> None:
    """A referrer-only program used to say nothing at all here."""
    program = make_program(RewardRules(referrer_reward=Reward.percent(10)))
    referred(program, "bob")
    conversion = program.record_conversion("o1", "bob", Decimal("0.04"), "EUR")
    assert conversion.rewards == ()
    assert conversion.reasons == ("referrer_reward_rounds_to_zero",)


ROLE_RULES = [
    RewardRules(referrer_reward=Reward.percent(10)),
    RewardRules(referee_reward=Reward.percent(5)),
    RewardRules(referrer_reward=Reward.percent(10), referee_reward=Reward.fixed(5, "EUR")),
    RewardRules(
        currency="EUR",
        referrer_reward=Reward.percent(10, cap=20),
        min_order_amount=10,
        first_purchase_only=True,
    ),
]
ORDERS = [
    (Decimal(0), "EUR"),
    (Decimal("0.01"), "EUR"),
    (Decimal("0.04"), "EUR"),
    (Decimal("9.99"), "EUR"),
    (Decimal(25), "EUR"),
    (Decimal(25), "EUR"),
    (Decimal(3000), "JPY"),
]


@pytest.mark.parametrize("rules", ROLE_RULES)
def test_every_role_promised_a_reward_and_given_none_has_a_reason(
    make_program: MakeProgram, rules: RewardRules
) -> None:
    program = make_program(rules)
    referred(program, "bob")
    promised = [
        role
        for role, reward in (("referrer", rules.referrer_reward), ("referee", rules.referee_reward))
        if reward is not None
    ]
    for number, (amount, currency) in enumerate(ORDERS):
        conversion = program.record_conversion(f"o{number}", "bob", amount, currency)
        got = {reward.role for reward in conversion.rewards}
        for role in promised:
            if role not in got:
                assert conversion.reasons, (amount, currency, role)
                assert f"{role}_rewarded" not in conversion.reasons


def test_summary_splits_revenue_and_reward_cost_by_currency(make_program: MakeProgram) -> None:
    rules = RewardRules(
        currency="EUR", referrer_reward=Reward.percent(10, cap={"EUR": 20, "JPY": 3000})
    )
    program = make_program(rules)
    for referee in ("bob", "carol", "dave"):
        referred(program, referee)
    program.record_conversion("o1", "bob", 100, "EUR")
    program.record_conversion("o2", "carol", 5000, "JPY")
    program.record_conversion("o3", "dave", 10, "USD")
    summary = program.summary()
    assert summary.revenue_by_currency == {
        "EUR": Decimal("100.00"),
        "JPY": Decimal(5000),
        "USD": Decimal("10.00"),
    }
    assert summary.reward_cost_by_currency == {"EUR": Decimal("10.00"), "JPY": Decimal(500)}
    assert summary.revenue == Decimal("5110.00")
    assert summary.reward_cost == Decimal("510.00")
