"""Milestones: a bonus at the referrer's 2nd and 5th rewarded referral, paid once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        hold_period=timedelta(days=14),
        milestones=[
            refkit.Milestone(2, refkit.Reward.fixed(Decimal("20"), "EUR")),
            refkit.Milestone(5, refkit.Reward.points(500)),
        ],
    ),
    clock=clock,
)
reached = []
program.on("milestone.reached", reached.append)  # e.g. send the "you did it" email

code = program.code_for("alice")
for friend in ("bob", "carol", "dave"):
    program.attribute(friend, code)
    program.record_conversion(f"order-{friend}", friend, Decimal("40.00"), "EUR")
program.refund("order-dave")  # refunded in the hold period: never counts

stats = program.stats_for("alice")
assert (stats.milestone_progress, stats.next_milestone.count) == (0, 2)  # all still pending

clock.advance(timedelta(days=14))
program.approve_due()  # approves bob's and carol's rewards, then pays the milestone of 2

(bonus,) = reached
assert (bonus.milestone, bonus.role, bonus.status) == (2, "referrer", "approved")
assert (bonus.value, bonus.currency, bonus.order_id) == (Decimal("20.00"), "EUR", None)
assert program.balance("alice", "EUR") == Decimal("30.00")  # 2 x 5 + 20

stats = program.stats_for("alice")
assert stats.milestone_progress == 2  # approved referrer rewards of alice's own referrals
assert stats.next_milestone == refkit.Milestone(5, refkit.Reward.points(500))
assert stats.milestones_reached == (2,)

# Bob's own referrals are Bob's: they never count for Alice (one level, like every reward).
program.attribute("erin", program.code_for("bob"))
program.record_conversion("order-erin", "erin", Decimal("40.00"), "EUR")
clock.advance(timedelta(days=14))
program.approve_due()
assert program.stats_for("alice").milestone_progress == 2
assert program.stats_for("bob").milestone_progress == 1

# A refund after the approval reverses Bob's reward and lowers Alice's count; the bonus
# already paid stays, and reaching 2 again pays nothing more.
program.refund("order-bob")
assert program.stats_for("alice").milestone_progress == 1
assert [r.milestone for r in program.rewards(user_id="alice") if r.milestone] == [2]
