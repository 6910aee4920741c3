"""An offer with dates: friends referred in March earn, and keep earning in their window."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

march, april = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    starts_at=march,  # referrals bound before this earn nothing ("offer_not_started")
    ends_at=april,  # ... and from this on ("offer_ended")
    attribution_window=timedelta(days=30),
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
code = program.code_for("alice")
program.attribute("bob", code, at=march + timedelta(days=30))  # inside the offer
program.attribute("carol", code, at=april)  # too late

# bob buys after the offer ended, inside his attribution window: he still earns alice 10 EUR
bob = program.record_conversion("order-1", "bob", 50, "EUR", at=april + timedelta(days=20))
carol = program.record_conversion("order-2", "carol", 50, "EUR", at=april)
assert [reward.value for reward in bob.rewards] == [Decimal("10")]
assert carol.reasons == ("offer_ended",)
