"""A hold period: rewards wait out the refund window before they are approved."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
rules = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    hold_period=timedelta(days=30),
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules, clock=clock
)
program.attribute("bob", program.code_for("alice"))
program.attribute("carol", program.code_for("alice"))
kept = program.record_conversion("order-1", "bob", Decimal("60.00"), "EUR")
returned = program.record_conversion("order-2", "carol", Decimal("90.00"), "EUR")
assert kept.rewards[0].due_at == datetime(2026, 1, 31, tzinfo=UTC)

clock.advance(days=10)
program.refund("order-2")  # carol sends her order back within the window
assert program.approve_due() == []  # nothing is due yet

clock.advance(days=20)  # run approve_due() daily: `refkit approve` or `flask refkit approve`
assert [r.order_id for r in program.approve_due()] == ["order-1"]
stats = program.stats_for("alice")
assert (stats.rewards["approved"], stats.rewards["revoked"]) == (Decimal("6.00"), Decimal("9.00"))
