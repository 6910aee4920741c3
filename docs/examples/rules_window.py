"""An attribution window: a purchase long after the referral earns nothing."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    attribution_window=timedelta(days=30),  # counted from the referral (the signup)
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules, clock=clock
)
program.attribute("bob", program.code_for("alice"))

clock.advance(days=45)
late = program.record_conversion("order-1", "bob", Decimal("50.00"), "EUR")
assert late.reasons == ("outside_window",)
assert late.referrer_id == "alice"  # still Alice's referee: the sale counts in her stats
