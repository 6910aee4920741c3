"""Double-sided: the referrer and the new customer both earn a reward."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),  # for bringing a friend
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),  # welcome gift for the friend
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)

program.attribute("bob", program.code_for("alice"))
conversion = program.record_conversion("order-1", "bob", Decimal("40.00"), "EUR")
assert [(r.role, r.beneficiary_id, r.value) for r in conversion.rewards] == [
    ("referrer", "alice", Decimal("10")),
    ("referee", "bob", Decimal("5")),
]
