"""The core from a plain script: a referral, a purchase, rewards held then approved.

No web framework: refkit's core is plain Python, so the same calls work from Django,
FastAPI, a payment webhook or a nightly job.
"""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))  # omit it: real time
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters in production",
    store="sqlite:///refkit.db",  # the default; "postgresql+psycopg://..." in production
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("20")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        hold_period=timedelta(days=14),
    ),
    clock=clock,
)

# 1. Alice shares her code, or a link that carries it.
code = program.code_for("alice")  # 12 characters, e.g. "K7WQ9XMP3RDA": the same every time
link = program.link_for("alice", "https://shop.example/welcome", campaign="spring")
assert link.startswith("https://shop.example/welcome?ref=")

# 2. Bob opens the link: a visit. He signs up: a referral, bound to Alice for good.
program.record_visit(code, campaign="spring")
referral = program.attribute("bob", code, campaign="spring")
assert referral.referrer_id == "alice"

# 3. Bob buys. Both sides earn a reward, pending for the 14-day hold period.
conversion = program.record_conversion("order-1001", "bob", Decimal("80.00"), "EUR")
assert conversion.reasons == ("referrer_rewarded", "referee_rewarded")
assert [(r.beneficiary_id, r.value, r.status) for r in conversion.rewards] == [
    ("alice", Decimal("8.00"), "pending"),
    ("bob", Decimal("5.00"), "pending"),
]

# 4. The same order again (a retried webhook) changes nothing.
assert program.record_conversion("order-1001", "bob", "80.00", "EUR") == conversion

# 5. Two weeks later, a daily job approves what is due.
clock.advance(days=14)
approved = program.approve_due()
assert {r.beneficiary_id for r in approved} == {"alice", "bob"}
assert program.stats_for("alice").balance == Decimal("8.00")  # what the shop owes Alice

summary = program.summary()
assert (summary.visits, summary.signups, summary.conversions) == (1, 1, 1)
print(f"alice's code is {code}; the program made {summary.revenue} EUR of referred sales")
