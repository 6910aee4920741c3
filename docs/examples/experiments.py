"""An A/B test of two welcome offers: assignment, each referral's rules, and the report."""

from decimal import Decimal

import refkit

five_off = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.percent(10),
    referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
)
ten_off = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    referee_discount=refkit.Reward.fixed(Decimal("10"), "EUR"),
    first_purchase_only=True,
)
experiment = refkit.Experiment(
    "welcome-offer",
    {"five-off": five_off, "ten-off": ten_off},  # the first variant is the control
    weights={"five-off": 1, "ten-off": 1},  # equal shares (the default)
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=experiment
)
code = program.code_for("alice")

# Assignment: the same subject always gets the same variant, in every process.
variant = program.variant_for("visitor-7f3a")
assert variant in ("five-off", "ten-off")
assert program.variant_for("visitor-7f3a") == variant

# The variant the visitor was shown goes with the visit and, at signup, onto the referral
# (refkit_flask does both from its cookie); without one it is assigned from the referee id.
program.record_visit(code, variant="ten-off")
referral = program.attribute("bob", code, variant="ten-off")
assert referral.variant == "ten-off"

# Offers, discounts and rewards follow the referral's variant.
assert program.offer_for("bob", Decimal("40"), "EUR").discount == Decimal("10")
claim = program.claim_discount("order-1", "bob", Decimal("40"), "EUR")
program.record_conversion("order-1", "bob", Decimal("40") - claim.discount, "EUR")

# A few more referees, so the report has something to compare.
for n in range(20):
    name = "five-off" if n % 2 else "ten-off"
    program.attribute(f"friend-{n}", code, variant=name)
    if n % 3 == 0:
        program.record_conversion(f"order-f{n}", f"friend-{n}", Decimal("40"), "EUR")

assert program.summary(variant="ten-off").signups == 11
report = program.experiment_report()
for entry in report.variants:
    print(
        f"{entry.variant}: {entry.first_purchases}/{entry.signups} bought, "
        f"{entry.conversion_rate:.0%} (95%: {entry.conversion_low:.0%} to "
        f"{entry.conversion_high:.0%}), cost per purchase {entry.cost_per_acquisition}, "
        f"p = {entry.p_value if entry.p_value is None else round(entry.p_value, 2)}"
    )
control, challenger = report.variants
assert control.variant == "five-off"
assert control.p_value is None  # the control is what the others are compared with
assert challenger.p_value is not None and challenger.p_value > 0.05  # far too few to tell
