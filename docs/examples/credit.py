"""Spending credit and paying out: balance, redeem, pay_out, expire_credit."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        credit_expires_after=timedelta(days=365),
    ),
    clock=clock,
)
program.attribute("bob", program.code_for("alice"))
program.record_conversion("order-1", "bob", Decimal("40.00"), "EUR")
program.approve_due()
assert program.balance("alice", "EUR") == Decimal("10.00")

# Alice spends 4.00 of her credit at checkout: the reference is the shop's cart or order id,
# so a retried request records it once.
entry = program.redeem("alice", Decimal("4.00"), "EUR", reference="cart-81")
assert (entry.kind, entry.approved) == ("redeemed", Decimal("-4.00"))
assert program.redeem("alice", Decimal("4.00"), "EUR", reference="cart-81") == entry
assert program.balance("alice", "EUR") == Decimal("6.00")

# More than the balance is refused, and nothing is stored.
try:
    program.redeem("alice", Decimal("6.01"), "EUR", reference="cart-82")
except refkit.InsufficientBalance as error:
    assert error.balance == Decimal("6.00")
else:
    raise AssertionError("spent more than the balance")

# The month's payout list, then the payout made from it.
assert program.balances(minimum=Decimal("5")) == [refkit.Balance("alice", "EUR", Decimal("6.00"))]
program.pay_out("alice", Decimal("6.00"), "EUR", reference="2026-01:alice:EUR")
assert program.balance("alice", "EUR") == 0
assert program.stats_for("alice").balance == 0
