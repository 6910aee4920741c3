"""Amounts in every currency: the rules' currency, and a cap per currency."""

from decimal import Decimal

import refkit

rules = refkit.RewardRules(
    currency="EUR",  # plain amounts (a cap, the minimum order) are in euros
    referrer_reward=refkit.Reward.percent(10, cap={"EUR": 20, "JPY": 3000}),
    min_order_amount={"EUR": 10, "JPY": 1500},
)
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!", store="memory://", rules=rules
)
for friend in ("bob", "carol", "dave"):
    program.attribute(friend, program.code_for("alice"))

euros = program.record_conversion("order-1", "bob", Decimal("900.00"), "EUR")
yen = program.record_conversion("order-2", "carol", 100_000, "JPY")
dollars = program.record_conversion("order-3", "dave", Decimal("50.00"), "USD")
assert euros.rewards[0].value == Decimal("20.00")  # capped in euros
assert yen.rewards[0].value == Decimal("3000")  # capped in yen: a cap of 20 never pays 20 yen
assert (dollars.rewards, dollars.reasons) == ((), ("currency_mismatch",))  # no USD amounts

summary = program.summary()
assert summary.revenue_by_currency == {
    "EUR": Decimal("900.00"),
    "JPY": Decimal("100000"),
    "USD": Decimal("50.00"),
}
assert summary.reward_cost_by_currency == {"EUR": Decimal("20.00"), "JPY": Decimal("3000")}
