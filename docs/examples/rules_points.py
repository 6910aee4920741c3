"""Loyalty points instead of money."""

import refkit

rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.points(500),
    referee_reward=refkit.Reward.points(100),
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
program.attribute("bob", program.code_for("alice"))
conversion = program.record_conversion("order-1", "bob", "30.00", "USD")

reward = conversion.rewards[0]
assert (reward.kind, reward.value, reward.currency) == ("points", 500, None)
stats = program.stats_for("alice")
assert stats.points["pending"] == 500  # points are counted apart from money
assert stats.rewards["pending"] == 0
