"""Spending credit and paying out: balance, redeem, pay_out, expire_credit, balances."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest

import refkit

Program = refkit.ReferralProgram
TEN = Decimal("10.00")


def credit_rules(**options: object) -> refkit.RewardRules:
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        referee_reward=refkit.Reward.points(50),
        **options,  # type: ignore[arg-type]
    )


def earn(program: Program, referee: str, referrer: str = "alice", order: str = "") -> None:
    """``referrer`` earns an approved 10.00 EUR (and ``referee`` 50 points)."""
    program.attribute(referee, program.code_for(referrer))
    program.record_conversion(order or f"order-{referee}", referee, "40", "EUR")
    program.approve_due()


@pytest.fixture
def credit(make_program: Callable[..., Program]) -> Program:
    program = make_program(rules=credit_rules())
    earn(program, "bob")
    return program


def test_the_balance_is_the_approved_rewards(credit: Program) -> None:
    assert credit.balance("alice", "EUR") == TEN
    assert credit.balance("alice", "eur") == TEN
    assert credit.balance("bob", None) == 50
    assert credit.balance("alice", "USD") == Decimal("0.00")
    assert credit.balance("nobody", None) == 0
    assert credit.stats_for("alice").balance == TEN


def test_pending_rewards_are_not_spendable(make_program: Callable[..., Program]) -> None:
    program = make_program(rules=credit_rules(hold_period=timedelta(days=14)))
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o1", "bob", "40", "EUR")
    assert program.balance("alice", "EUR") == 0
    with pytest.raises(refkit.InsufficientBalance):
        program.redeem("alice", "1", "EUR", reference="r1")


def test_redeeming_takes_credit_off_and_appends_an_entry(credit: Program) -> None:
    entry = credit.redeem("alice", "3.50", "EUR", reference="cart-1")
    assert entry.kind == "redeemed"
    assert (entry.beneficiary_id, entry.currency, entry.reward_id) == ("alice", "EUR", None)
    assert (entry.approved, entry.pending, entry.reference) == (Decimal("-3.50"), 0, "cart-1")
    assert credit.balance("alice", "EUR") == Decimal("6.50")
    assert credit.stats_for("alice").balance == Decimal("6.50")
    assert credit.stats_for("alice").balance_by_currency == {"EUR": Decimal("6.50")}
    assert credit.ledger("alice")[-1] == entry


def test_paying_out_and_spending_points(credit: Program) -> None:
    paid = credit.pay_out("alice", TEN, "EUR", reference="payout-2026-12")
    assert paid.kind == "paid_out"
    assert credit.balance("alice", "EUR") == 0
    points = credit.redeem("bob", 20, None, reference="bob-points")
    assert (points.kind, points.approved, points.currency) == ("redeemed", -20, None)
    assert credit.balance("bob", None) == 30


def test_the_same_reference_twice_stores_one_entry(credit: Program) -> None:
    first = credit.redeem("alice", "4", "EUR", reference="r1")
    again = credit.redeem("alice", "4.00", "EUR", reference="r1")
    assert again == first
    assert credit.balance("alice", "EUR") == Decimal("6.00")
    assert [e.kind for e in credit.ledger("alice")].count("redeemed") == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.redeem("bob", 4, None, reference="r1"),  # another user
        lambda p: p.redeem("alice", "5", "EUR", reference="r1"),  # another amount
        lambda p: p.pay_out("alice", "4", "EUR", reference="r1"),  # another kind
        lambda p: p.redeem("alice", "4", "USD", reference="r1"),  # another currency
    ],
)
def test_a_reference_reused_for_something_else_is_a_conflict(
    credit: Program, call: Callable[[Program], object]
) -> None:
    credit.redeem("alice", "4", "EUR", reference="r1")
    before = credit.ledger()
    with pytest.raises(refkit.ConflictError, match="r1"):
        call(credit)
    assert credit.ledger() == before


def test_spending_more_than_the_balance_is_refused_and_stores_nothing(credit: Program) -> None:
    credit.redeem("alice", "6", "EUR", reference="r1")
    before = credit.ledger()
    with pytest.raises(refkit.InsufficientBalance) as refused:
        credit.redeem("alice", "4.01", "EUR", reference="r2")
    assert isinstance(refused.value, refkit.ValidationError)
    assert (refused.value.balance, refused.value.amount) == (Decimal("4.00"), Decimal("4.01"))
    assert "4.00 EUR" in str(refused.value)
    with pytest.raises(refkit.InsufficientBalance):
        credit.pay_out("alice", "1", "USD", reference="r3")
    assert credit.ledger() == before
    assert credit.balance("alice", "EUR") == Decimal("4.00")
    # the refused reference is free: nothing was stored under it
    assert credit.redeem("alice", "4", "EUR", reference="r2").approved == Decimal("-4.00")


@pytest.mark.parametrize(
    ("amount", "currency"),
    [("0", "EUR"), ("-1", "EUR"), ("nan", "EUR"), ("1", "EURO"), (0, None), (1.5, None)],
)
def test_bad_amounts_are_refused(credit: Program, amount: object, currency: str | None) -> None:
    with pytest.raises(refkit.ValidationError):
        credit.redeem("alice", amount, currency, reference="bad")  # type: ignore[arg-type]
    assert credit.balance("alice", "EUR") == TEN


def test_a_refund_after_spending_leaves_a_debt_that_later_credit_pays_first(
    credit: Program,
) -> None:
    credit.redeem("alice", "8", "EUR", reference="r1")
    credit.refund("order-bob")  # the 10.00 is reversed after 8.00 was spent
    stats = credit.stats_for("alice")
    assert credit.balance("alice", "EUR") == 0  # never below zero
    assert (stats.balance, stats.debt_by_currency) == (0, {"EUR": Decimal("8.00")})
    with pytest.raises(refkit.InsufficientBalance):
        credit.redeem("alice", "0.01", "EUR", reference="r2")
    earn(credit, "carol")  # another 10.00: 8.00 pays the debt
    assert credit.balance("alice", "EUR") == Decimal("2.00")
    assert credit.stats_for("alice").debt_by_currency == {}
    ledger_sum = sum(
        (e.approved for e in credit.ledger("alice") if e.currency == "EUR"), Decimal(0)
    )
    assert ledger_sum == Decimal("2.00")


def test_a_partial_refund_lowers_the_balance(make_program: Callable[..., Program]) -> None:
    program = make_program(rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(10)))
    earn(program, "bob")  # 10% of 40.00
    program.refund("order-bob", Decimal("10"))
    assert program.balance("alice", "EUR") == Decimal("3.00")


def test_credit_expires_first_in_first_out(
    make_program: Callable[..., Program], clock: refkit.FrozenClock
) -> None:
    program = make_program(rules=credit_rules(credit_expires_after=timedelta(days=30)))
    earn(program, "bob")  # 10.00 approved on day 0
    clock.advance(timedelta(days=20))
    earn(program, "carol")  # 10.00 approved on day 20
    program.redeem("alice", "4", "EUR", reference="r1")  # spends day 0's credit first
    clock.advance(timedelta(days=15))  # day 35: day 0's credit is too old
    expired = program.expire_credit()
    eur = [e for e in expired if e.currency == "EUR"]
    assert [(e.beneficiary_id, e.kind, e.approved) for e in eur] == [
        ("alice", "expired", Decimal("-6.00"))
    ]
    assert [(e.beneficiary_id, e.approved) for e in expired if e.currency is None] == [
        ("bob", Decimal(-50))
    ]
    assert program.balance("alice", "EUR") == TEN  # day 20's credit is left
    assert program.expire_credit() == []  # idempotent
    clock.advance(timedelta(days=20))  # day 55: day 20's credit is too old too
    assert [e.approved for e in program.expire_credit() if e.currency == "EUR"] == [-TEN]
    assert program.balance("alice", "EUR") == 0
    assert program.expire_credit() == []


def test_without_an_expiry_nothing_expires(credit: Program, clock: refkit.FrozenClock) -> None:
    clock.advance(timedelta(days=3650))
    assert credit.expire_credit() == []
    assert credit.balance("alice", "EUR") == TEN


def test_a_bad_expiry_is_a_configuration_error() -> None:
    with pytest.raises(refkit.ConfigurationError, match="credit_expires_after"):
        credit_rules(credit_expires_after=timedelta(days=-1))


def test_balances_list_who_to_pay(credit: Program) -> None:
    earn(credit, "carol", referrer="dave")
    credit.redeem("dave", "9.50", "EUR", reference="r1")
    assert credit.balances() == [
        refkit.Balance("alice", "EUR", TEN),
        refkit.Balance("dave", "EUR", Decimal("0.50")),
    ]
    assert credit.balances(minimum="1") == [refkit.Balance("alice", "EUR", TEN)]
    assert credit.balances(minimum="1", currency="usd") == []


def test_erasing_a_user_moves_their_balance_with_their_ledger(credit: Program) -> None:
    pseudonym = credit.erase("alice")
    assert credit.balance("alice", "EUR") == 0
    assert credit.balance(pseudonym, "EUR") == TEN
