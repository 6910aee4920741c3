"""Refunding an order that used the friend's discount."""

from decimal import Decimal

import refkit

program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR")),
)
program.attribute("bob", program.code_for("alice"))
program.claim_discount("order-1", "bob", Decimal("40.00"), "EUR")
program.record_conversion("order-1", "bob", Decimal("35.00"), "EUR")

program.refund("order-1", Decimal("10.00"))  # partial: the discount stays redeemed
assert program.summary().reward_cost == Decimal("5.00")

program.refund("order-1")  # in full: the discount is reversed, no longer a cost...
stored = program.conversion("order-1")
assert [r.status for r in stored.rewards if r.kind == "discount"] == ["reversed"]
assert program.summary().reward_cost == 0
# ... and stays used: bob's next order gets no second discount
again = program.claim_discount("order-2", "bob", Decimal("40.00"), "EUR")
assert again.reasons == ("discount_already_claimed",)
