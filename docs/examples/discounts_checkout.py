"""The friend's discount at checkout: offer -> claim -> pay -> convert."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("20")),
    referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),  # 5 EUR off the friend's order
    first_purchase_only=True,
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
program.attribute("bob", program.code_for("alice"))

# 1. The cart page: what would bob get off this 40 EUR order? (stores nothing)
offer = program.offer_for("bob", Decimal("40.00"), "EUR")
assert (offer.discount, offer.referrer_id) == (Decimal("5"), "alice")

# 2. The payment page: reserve the discount for this order before charging.
claim = program.claim_discount("order-1", "bob", Decimal("40.00"), "EUR")
assert claim.discount == Decimal("5") and claim.expires_at is not None  # one hour by default
total = Decimal("40.00") - claim.discount  # 3. charge 35.00

# 4. Paid: record the conversion with the amount paid, after the discount.
conversion = program.record_conversion("order-1", "bob", total, "EUR")
discount = next(r for r in conversion.rewards if r.kind == "discount")
referrer = next(r for r in conversion.rewards if r.role == "referrer")
assert (discount.role, discount.status, discount.value) == ("referee", "redeemed", Decimal("5.00"))
assert referrer.value == Decimal("3.50")  # 10 percent of what bob paid
assert program.summary().reward_cost == Decimal("8.50")  # the discount is a cost too

# Another order of bob's gets no second discount.
assert program.offer_for("bob", Decimal("40.00"), "EUR").discount == 0
