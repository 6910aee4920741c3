"""A refund after the credit was spent: the balance stays at zero and a debt is kept."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        credit_expires_after=timedelta(days=30),
    ),
    clock=clock,
)
code = program.code_for("alice")
for friend in ("bob", "carol"):
    program.attribute(friend, code)
program.record_conversion("order-1", "bob", Decimal("40.00"), "EUR")
program.approve_due()
program.redeem("alice", Decimal("8.00"), "EUR", reference="cart-1")

program.refund("order-1")  # the 10.00 reward is reversed after 8.00 of it was spent
stats = program.stats_for("alice")
assert program.balance("alice", "EUR") == 0  # never below zero
assert stats.debt_by_currency == {"EUR": Decimal("8.00")}

clock.advance(days=20)
program.record_conversion("order-2", "carol", Decimal("40.00"), "EUR")
program.approve_due()  # another 10.00: 8.00 of it pays the debt first
assert program.balance("alice", "EUR") == Decimal("2.00")

# Credit expires first in, first out: 40 days on, the 2.00 left is from day 20's reward.
clock.advance(days=40)
[expired] = program.expire_credit()
assert (expired.kind, expired.approved) == ("expired", Decimal("-2.00"))
assert program.expire_credit() == []  # running it again (daily) expires nothing more
