"""One balance spent by 32 threads, and by 4 processes, at once: never below zero.

Every spender is released by a barrier so the calls overlap; each tries to redeem (or pay
out) 3.00 EUR of a 10.00 EUR balance under its own reference. At most three can succeed; every
other call must raise :class:`refkit.InsufficientBalance` and store nothing. The same
reference spent by every thread stores one entry.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

import refkit

from .support.settings import SECRET

THREADS = 32
PROCESSES = 4
PER_PROCESS = 8
TIMEOUT = 60
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRICE = Decimal("3.00")
RULES = refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"))


def funded(program: refkit.ReferralProgram) -> refkit.ReferralProgram:
    """Alice has 10.00 EUR to spend."""
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("order-1", "bob", "40", "EUR")
    program.approve_due()
    assert program.balance("alice", "EUR") == Decimal("10.00")
    return program


def attempt(call: Callable[[], refkit.LedgerEntry]) -> tuple[str, str | None]:
    """``("ok", reference)``, or the error's class name (only refkit errors are expected)."""
    try:
        return "ok", call().reference
    except refkit.InsufficientBalance:
        return "InsufficientBalance", None
    except Exception as error:  # reported, so the test names what escaped
        return f"{type(error).__module__}.{type(error).__name__}: {error}", None


def run_threads(work: Callable[[int], tuple[str, str | None]]) -> list[tuple[str, str | None]]:
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def worker(index: int) -> None:
        barrier.wait(TIMEOUT)
        results[index] = work(index)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a spender hung"
    return results


def check_settled(program: refkit.ReferralProgram, results: list[tuple[str, str | None]]) -> None:
    """The balance never went below zero, and only the successful calls stored entries."""
    outcomes = {outcome for outcome, _ in results}
    assert outcomes <= {"ok", "InsufficientBalance"}, outcomes
    spent = sorted(reference for outcome, reference in results if outcome == "ok" and reference)
    assert len(spent) == 3  # 3 x 3.00 fit in 10.00; a fourth never does
    stored = [e for e in program.ledger("alice") if e.kind in ("redeemed", "paid_out")]
    assert sorted(e.reference or "" for e in stored) == spent
    assert program.balance("alice", "EUR") == Decimal("1.00")
    assert sum((e.approved for e in program.ledger("alice")), Decimal(0)) == Decimal("1.00")


def test_threads_spending_one_balance_never_take_it_below_zero(
    make_program: Callable[..., refkit.ReferralProgram],
) -> None:
    program = funded(make_program(rules=RULES))

    def spend(i: int) -> tuple[str, str | None]:
        call = program.redeem if i % 2 else program.pay_out
        return attempt(lambda: call("alice", PRICE, "EUR", reference=f"spend-{i}"))

    check_settled(program, run_threads(spend))


def test_threads_replaying_one_reference_store_one_entry(
    make_program: Callable[..., refkit.ReferralProgram],
) -> None:
    program = funded(make_program(rules=RULES))

    results = run_threads(
        lambda _: attempt(lambda: program.redeem("alice", PRICE, "EUR", reference="cart-1"))
    )

    assert {outcome for outcome, _ in results} == {"ok"}
    assert [e.kind for e in program.ledger("alice")].count("redeemed") == 1
    assert program.balance("alice", "EUR") == Decimal("7.00")


def _spend_in_process(url: str, index: int, barrier: Any, results: Any) -> None:
    """A worker process: its own program on the same database, 8 spends after the barrier."""
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=url, rules=RULES, clock=refkit.FrozenClock(START)
    )
    program.store.create_all()
    try:
        barrier.wait(TIMEOUT)
        outcomes = []
        for n in range(PER_PROCESS):
            reference = f"process-{index}-{n}"
            call = program.redeem if n % 2 else program.pay_out
            outcomes.append(attempt(lambda: call("alice", PRICE, "EUR", reference=reference)))  # noqa: B023
        results.put(outcomes)
    except BaseException as error:  # never hang the parent
        barrier.abort()
        results.put([(f"setup failed: {error}", None)])
    finally:
        program.store.close()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_processes_spending_one_balance_never_take_it_below_zero(
    store_url: str, make_program: Callable[..., refkit.ReferralProgram]
) -> None:
    program = funded(make_program(rules=RULES))
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    queue = context.Queue()
    processes = [
        context.Process(target=_spend_in_process, args=(store_url, i, barrier, queue), daemon=True)
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    results = [outcome for _ in processes for outcome in queue.get(timeout=TIMEOUT * 2)]
    for process in processes:
        process.join(TIMEOUT)
        assert process.exitcode == 0
    assert len(results) == PROCESSES * PER_PROCESS
    check_settled(program, results)
