"""A percentage of the friend's order, with a cap."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    # 10% of the order, in the order's currency, at most 20 (of that currency).
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("20")),
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
program.attribute("bob", program.code_for("alice"))
program.attribute("carol", program.code_for("alice"))

small = program.record_conversion("order-1", "bob", Decimal("45.50"), "EUR")
large = program.record_conversion("order-2", "carol", Decimal("900.00"), "EUR")
assert small.rewards[0].value == Decimal("4.55")  # in cents (rounded half to even)
assert large.rewards[0].value == Decimal("20.00")  # capped
