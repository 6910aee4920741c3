"""Campaigns: tag links, compare their funnels, and pay a campaign its own rewards."""

from decimal import Decimal

import refkit

SECRET = "dev only: 32+ random characters!"
standard = refkit.ReferralProgram(
    secret_key=SECRET,
    store="memory://",
    rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR")),
)
# Same key and store: the same codes and data, with the campaign's more generous rules.
double = refkit.ReferralProgram(
    secret_key=SECRET,
    store=standard.store,
    rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("20"), "EUR")),
)
programs = {"double-december": double}

link = standard.link_for("alice", "https://shop.example/", campaign="double-december")
assert link.endswith("&campaign=double-december")
code = standard.code_for("alice")
standard.record_visit(code, campaign="double-december")
standard.attribute("bob", code, campaign="double-december")  # the campaign from the link
standard.attribute("carol", code)  # no campaign


def record_purchase(order_id: str, customer_id: str, amount: str) -> refkit.Conversion:
    """Record with the rules of the campaign the customer was referred through."""
    referral = standard.referral_for(customer_id)
    campaign = referral.campaign if referral is not None else None
    return programs.get(campaign or "", standard).record_conversion(
        order_id, customer_id, amount, "EUR"
    )


assert record_purchase("order-1", "bob", "50.00").rewards[0].value == Decimal("20")
assert record_purchase("order-2", "carol", "50.00").rewards[0].value == Decimal("10")

december = standard.summary(campaign="double-december")
assert (december.visits, december.signups, december.conversions) == (1, 1, 1)
assert standard.summary().signups == 2
