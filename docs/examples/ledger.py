"""Refunds and the ledger: rewards change status, history is only ever appended."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10), hold_period=timedelta(days=14)
    ),
    clock=clock,
)
for friend in ("bob", "carol", "dave"):
    program.attribute(friend, program.code_for("alice"))
program.record_conversion("order-1", "bob", Decimal("100.00"), "EUR")
program.record_conversion("order-2", "carol", Decimal("100.00"), "EUR")
program.record_conversion("order-3", "dave", Decimal("100.00"), "EUR")

# A partial refund lowers a percent reward in proportion; a full refund of a pending
# reward revokes it.
[lowered] = program.refund("order-1", Decimal("40.00"))
assert (lowered.value, lowered.original_value) == (Decimal("6.00"), Decimal("10.00"))
[revoked] = program.refund("order-2")
assert revoked.status == "revoked"

clock.advance(days=14)
program.approve_due()  # order-1 (6.00) and order-3 (10.00) are approved
[reversed_] = program.refund("order-3")  # refunded after approval: reversed
assert reversed_.status == "reversed"

# Each change is a ledger entry; a balance is the sum of its entries.
kinds = [entry.kind for entry in program.ledger("alice")]
assert kinds == [
    "accrued", "accrued", "accrued",  # three rewards, pending
    "adjusted", "revoked",  # the partial and the full refund
    "approved", "approved",  # the hold period is over
    "reversed",  # order-3 refunded after approval
]  # fmt: skip
approved = sum(entry.approved for entry in program.ledger("alice"))
assert approved == program.stats_for("alice").balance == Decimal("6.00")
