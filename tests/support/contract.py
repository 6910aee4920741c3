"""What the contract tests (``tests/test_contract_*.py``) share: the rules of API.md, a referral
in one line, and threads released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import refkit

OTHER_SECRET = "another-secret-key-for-a-second-program-0123"
THREADS = 6

Program = refkit.ReferralProgram


def example_rules() -> refkit.RewardRules:
    """The rules of API.md's code block, verbatim."""
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=Decimal("20"),
        first_purchase_only=True,
        attribution_window=timedelta(days=30),
        hold_period=timedelta(days=14),
        max_rewards_per_referrer=None,
    )


def every_order_rules(cap: int | None = None) -> refkit.RewardRules:
    """Double-sided rules where every order qualifies: only the single-reward rules stop one."""
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        max_rewards_per_referrer=cap,
    )


def refer(program: Program, referee: str, referrer: str = "alice") -> refkit.Referral:
    return program.attribute(referee, program.code_for(referrer))


def race(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in threads released together; return results (or the exceptions)."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        barrier.wait(30)
        try:
            results[index] = work(index)
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results
