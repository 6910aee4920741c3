"""A reward given by hand: approved at once, in the ledger, idempotent by reference."""

from decimal import Decimal

import refkit

program = refkit.ReferralProgram(secret_key="dev only: 32+ random characters!", store="memory://")
prize = program.grant(
    "alice",
    refkit.Reward.fixed(Decimal("25"), "EUR"),
    reference="contest-2026-05",  # the shop's own id of this grant
    reason="May photo contest, first prize",
)
assert (prize.role, prize.status, prize.value) == ("grant", "approved", Decimal("25.00"))
assert program.balance("alice", "EUR") == Decimal("25.00")
assert [entry.kind for entry in program.ledger("alice")] == ["accrued", "approved"]

# The same call again (a retried job, a double click) returns the same reward.
again = program.grant(
    "alice",
    refkit.Reward.fixed(Decimal("25"), "EUR"),
    reference="contest-2026-05",
    reason="May photo contest, first prize",
)
assert again == prize
assert program.balance("alice", "EUR") == Decimal("25.00")

# The same reference for another user or reward is a mistake, and nothing is stored.
try:
    program.grant("bob", refkit.Reward.points(100), reference="contest-2026-05", reason="oops")
except refkit.ConflictError:
    pass
else:
    raise AssertionError("one reference granted twice")
assert program.balance("bob", None) == 0
