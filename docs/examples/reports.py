"""Reports of your own from the read model: the same figures as the dashboard's."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import refkit
from refkit import reports

clock = refkit.FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10), hold_period=timedelta(days=14)
    ),
    clock=clock,
)
code = program.code_for("alice")
program.attribute("bob", code, campaign="newsletter")
program.attribute("carol", code, email="carol@mailinator.com")  # flagged for review
program.record_conversion("order-1", "bob", Decimal("100.00"), "EUR")
program.record_conversion("order-2", "carol", Decimal("80.00"), "EUR")
clock.advance(days=15)

# Each report runs in one read-only transaction of the program's store.
due = program.reports.due_rewards(limit=20)
assert due.count == 1  # carol's reward waits for the review, in approve_due() too
assert len(program.approve_due()) == due.count

[newsletter] = [c for c in program.reports.campaigns() if c.campaign == "newsletter"]
assert (newsletter.signups, newsletter.buyers) == (1, 1)
assert newsletter.revenue == {"EUR": Decimal("100.00")}

# Several reports from one snapshot: the functions take an open connection.
revenue, cost = program.reports.read(
    lambda connection: (
        reports.revenue_by_bucket(connection, None, None, "week"),
        reports.reward_cost_by_bucket(connection, None, None, "week"),
    )
)
assert revenue == [reports.BucketTotal(date(2026, 3, 2), "EUR", Decimal("180.00"))]
assert cost == [reports.BucketTotal(date(2026, 3, 2), "EUR", Decimal("18.00"))]
