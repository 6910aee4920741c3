"""A failed payment releases the claim; an abandoned one lapses after claim_ttl."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import refkit

clock = refkit.FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(referee_discount=refkit.Reward.percent(10)),
    claim_ttl=timedelta(minutes=30),
    clock=clock,
)
program.attribute("bob", program.code_for("alice"))

assert program.claim_discount("cart-1", "bob", 80, "EUR").discount == Decimal("8.00")
second_tab = program.claim_discount("cart-2", "bob", 80, "EUR")
assert (second_tab.discount, second_tab.reasons) == (0, ("discount_already_claimed",))

assert program.release_discount("cart-1")  # the card was declined
assert program.claim_discount("cart-2", "bob", 80, "EUR").discount == Decimal("8.00")

clock.advance(minutes=30)  # cart-2 was abandoned: its claim lapses
assert program.claim_discount("cart-3", "bob", 80, "EUR").discount == Decimal("8.00")
