"""Caps: at most so many referrer rewards per referrer."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    max_rewards_per_referrer=2,  # Alice earns for her first two friends who buy
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
for number, friend in enumerate(["bob", "carol", "dave"], 1):
    program.attribute(friend, program.code_for("alice"))
    conversion = program.record_conversion(f"order-{number}", friend, "40.00", "EUR")

assert conversion.reasons == ("cap_reached", "referee_rewarded")  # dave still gets his 5 EUR
assert program.stats_for("alice").rewards["pending"] == Decimal("20.00")
