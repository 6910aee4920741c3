"""Adversarial findings on the friend's discount (issue 14), as strict-xfail tests.

Each test states what a shop can rely on and fails today; the fix is not local to
refkit/steps/claims.py (see the report of branch ``core14``).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

import refkit

RULES = refkit.RewardRules(referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"))


@pytest.mark.xfail(
    strict=True,
    reason="a lapsed claim taken by another order loses its discount at a late conversion",
)
def test_a_late_conversion_of_a_lapsed_claim_records_the_discount_it_charged(
    make_program, clock: refkit.FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    """bob pays order-1 at 35.00 (5.00 off), but the payment provider's webhook arrives after
    claim_ttl; meanwhile bob's second cart claims the discount again. The shop gave the
    discount twice; refkit records it once, on the order that did not come first, and the
    first order's conversion says ``discount_not_claimed`` although bob paid the reduced
    price."""
    program = make_program(rules=RULES)
    program.attribute("bob", program.code_for("alice"))
    first = program.claim_discount("order-1", "bob", Decimal("40.00"), "EUR")
    assert first.discount == Decimal("5")
    # bob pays 35.00 at once; the webhook is late
    clock.advance(timedelta(hours=2))
    second = program.claim_discount("order-2", "bob", Decimal("40.00"), "EUR")
    late = program.record_conversion("order-1", "bob", Decimal("35.00"), "EUR")
    discounts = [r for r in late.rewards if r.kind == "discount"]
    # Either the paid order keeps its discount, or the second claim was refused: never a
    # reduced price that refkit's books do not show.
    assert discounts or second.discount == 0, (late.reasons, second)


@pytest.mark.xfail(
    strict=True,
    reason="any claim call lapses a stale claim, so its late conversion loses the discount",
)
def test_a_claim_that_reserves_nothing_does_not_cost_a_paid_order_its_discount(
    make_program, clock: refkit.FrozenClock
) -> None:  # type: ignore[no-untyped-def]
    """Found by tests/test_discount_stateful.py: bob pays order-1 at 4.00 (a 5.00 order,
    20% off, minimum order 5.00); its webhook arrives after claim_ttl. In between, a cart of
    4.99 asks for a claim and gets none (below the minimum), yet the call lapses order-1's
    claim. The late conversion then records no discount and ``below_min_order`` (4.00
    paid, the claimed 1.00 forgotten); without that unrelated call it would have recorded
    the 1.00 discount. Whether a paid order keeps its discount depends on what else ran."""
    rules = refkit.RewardRules(
        referee_discount=refkit.Reward.percent(20), min_order_amount=Decimal("5")
    )
    program = make_program(rules=rules)
    program.attribute("bob", program.code_for("alice"))
    assert program.claim_discount("order-1", "bob", Decimal("5"), "EUR").discount == 1
    clock.advance(timedelta(hours=2))
    assert program.claim_discount("order-2", "bob", Decimal("4.99"), "EUR").discount == 0
    late = program.record_conversion("order-1", "bob", Decimal("4.00"), "EUR")
    assert [r.value for r in late.rewards if r.kind == "discount"] == [Decimal("1.00")], (
        late.reasons
    )
