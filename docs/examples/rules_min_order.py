"""A minimum order: small orders earn nothing, and do not use up the reward."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    min_order_amount=Decimal("25"),
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
program.attribute("bob", program.code_for("alice"))

first = program.record_conversion("order-1", "bob", Decimal("12.00"), "EUR")
assert first.rewards == () and first.reasons == ("below_min_order",)

second = program.record_conversion("order-2", "bob", Decimal("30.00"), "EUR")
assert second.reasons == ("referrer_rewarded",)  # the first qualifying order earns it
