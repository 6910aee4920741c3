"""``python -m refkit.demo``: a walk-through of refkit's core on a real SQLite file.

The database lives in a temporary directory that is deleted at the end, and time comes from a
:class:`~refkit.FrozenClock`, so the run takes a second and prints the same story every time:
codes, a tampered code, a visit, a signup, a conversion and why it earned what it earned, a
replayed order, a partial refund, the hold period passing, and the resulting stats and ledger.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import refkit
from refkit.codes import check_character

__all__ = ["main"]

DEMO_KEY = "refkit-demo-secret-key-not-for-production"


def step(title: str) -> None:
    print(f"\n== {title}")


def show(label: str, value: object) -> None:
    print(f"   {label:<26} {value}")


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(reward: refkit.EarnedReward) -> str:
    unit = reward.currency or "points"
    return (
        f"#{reward.id} {reward.role} {reward.beneficiary_id}: {reward.value} {unit} {reward.status}"
    )


def tampered(code: str) -> str:
    """``code`` with one character changed and its check character recomputed: a forgery."""
    body = code[:10] + ("B" if code[10] != "B" else "C")
    return body + check_character(body)


def run(directory: Path) -> None:
    url = f"sqlite:///{directory / 'refkit-demo.db'}"
    clock = refkit.FrozenClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("25")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=Decimal("20"),
        first_purchase_only=True,
        attribution_window=timedelta(days=30),
        hold_period=timedelta(days=14),
    )
    program = refkit.ReferralProgram(secret_key=DEMO_KEY, store=url, rules=rules, clock=clock)
    try:
        step(f"A double-sided program on {url} (temporary), clock frozen at {clock():%Y-%m-%d}")
        print("   referrer: 10% of the order, at most 25 EUR; referee: 5 EUR; orders from 20 EUR;")
        print("   first purchase only; 30-day attribution window; rewards held 14 days")
        program.create_all()

        step("Codes: the same user always gets the same code")
        codes = {user: program.code_for(user) for user in ("alice", "bob", "carol")}
        for user, code in codes.items():
            show(user, code)
        alice = codes["alice"]
        show("alice again", program.code_for("alice"))

        step("Resolve: case, dashes and spaces do not matter")
        dashed = f"{alice[:4]}-{alice[4:8]}-{alice[8:]}".lower()
        for typed in (alice, alice.lower(), dashed, f"  {alice}  "):
            show(repr(typed), program.resolve(typed))

        step("Wrong codes raise InvalidCode, with a reason")
        typo = alice[:5] + ("X" if alice[5] != "X" else "Y") + alice[6:]
        other_shop = refkit.CodeCodec("another-shop-secret-key-0123456789abcdef").encode(4242)
        for label, typed in (
            ("one character mistyped", typo),
            ("altered, check recomputed", tampered(alice)),
            ("signed with another key", other_shop),
        ):
            try:
                program.resolve(typed)
            except refkit.InvalidCode as error:
                show(label, f"{typed}: InvalidCode, reason {error.reason!r}")

        step("A visit, then a signup bound to the referrer")
        visit = program.record_visit(alice, campaign="newsletter")
        show("visit", f"#{visit.id} for {visit.referrer_id} (campaign {visit.campaign})")
        clock.advance(hours=2)
        referral = program.attribute("dave", alice, source="link")
        show("dave's referrer", f"{referral.referrer_id} (source {referral.source})")
        try:
            program.attribute("dave", codes["bob"])
        except refkit.AlreadyReferred:
            show("bob's code for dave", "AlreadyReferred: the first binding wins")
        try:
            program.attribute("alice", alice)
        except refkit.SelfReferral:
            show("alice's own code", "SelfReferral")

        step("dave's first order: 150 EUR")
        clock.advance(days=1)
        order = program.record_conversion("order-1001", "dave", Decimal("150.00"), "EUR")
        show("referrer", order.referrer_id)
        show("reasons", ", ".join(order.reasons))
        for reward in order.rewards:
            show("reward", describe(reward))

        step("The payment webhook sends order-1001 again: nothing new is created")
        again = program.record_conversion("order-1001", "dave", Decimal("150.00"), "EUR")
        show("same rewards", [r.id for r in again.rewards] == [r.id for r in order.rewards])
        show("rewards in the store", len(program.rewards()))

        step("Orders that earn nothing say why")
        second = program.record_conversion("order-1002", "dave", Decimal("80.00"), "EUR")
        show("dave's 2nd order (80 EUR)", ", ".join(second.reasons))
        walk_in = program.record_conversion("order-1003", "erin", Decimal("60.00"), "EUR")
        show("erin, not referred", ", ".join(walk_in.reasons))

        step("Guest checkout with bob's code: 400 EUR, the 10% is capped at 25 EUR")
        guest = program.record_conversion("order-1004", "frank", 400, "EUR", code=codes["bob"])
        show("frank's referrer", guest.referrer_id)
        for reward in guest.rewards:
            show("reward", describe(reward))

        step("A partial refund of 50 EUR on order-1001 lowers the percent reward")
        for reward in program.refund("order-1001", Decimal("50.00")):
            show("changed", f"{describe(reward)} (was {reward.original_value})")

        step("The clock moves 14 days: the hold period is over")
        clock.advance(days=14)
        show("today", f"{clock():%Y-%m-%d}")
        for reward in program.approve_due():
            show("approved", describe(reward))

        step("Stats")
        stats = program.stats_for("alice")
        counts = (
            plural(stats.visits, "visit"),
            plural(stats.signups, "signup"),
            plural(stats.conversions, "order"),
        )
        show("alice", ", ".join(counts))
        show("alice's referees' revenue", f"{stats.revenue} EUR")
        show("alice's balance", f"{stats.balance} EUR")
        summary = program.summary()
        show(
            "program",
            f"{plural(summary.referrers, 'referrer')}, {plural(summary.signups, 'signup')}",
        )
        show("k-factor", f"{summary.k_factor:.2f} signups per referrer")
        show("conversion rate", f"{summary.conversion_rate:.0%}")
        show("reward cost", f"{summary.reward_cost} EUR")
        for entry in program.leaderboard():
            show(f"leaderboard: {entry.referrer_id}", plural(entry.conversions, "order"))

        step("The ledger: append-only history of every reward")
        print(
            f"   {'id':>3}  {'at':<16}  {'reward':>6}  {'who':<6}  {'kind':<8}  pending  approved"
        )
        for line in program.ledger():
            print(
                f"   {line.id:>3}  {line.created_at:%Y-%m-%d %H:%M}  {line.reward_id:>6}  "
                f"{line.beneficiary_id:<6}  {line.kind:<8}  {line.pending:>7}  {line.approved:>8}"
            )
    finally:
        program.store.close()


def main() -> int:
    """Run the walk-through in a temporary directory; 0 when it went through."""
    with tempfile.TemporaryDirectory(prefix="refkit-demo-") as directory:
        run(Path(directory))
    print("\nDone: the demo database was temporary and is deleted. Next: `make test`, README.md.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
