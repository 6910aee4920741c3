"""One referrer's rewards approved by 32 threads, and by 4 processes, at once: each
milestone is paid exactly once, and none is missed.

Alice has 32 referees with a pending reward each and milestones at 1, 5, 16 and 32
rewarded referrals. Every approver is released by a barrier so the calls overlap; half call
``approve(reward_id)`` for their own reward, half ``approve_due()`` (which approves every
due reward it finds still pending). Whatever the interleaving, once all are done every
reward is approved and each milestone has exactly one bonus, and ``"milestone.reached"``
fired once per bonus (in the thread test, where one program sees every event).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import refkit
from refkit import Milestone, Reward

from .support.settings import SECRET

THREADS = 32
PROCESSES = 4
PER_PROCESS = 8
REFEREES = 32
TIMEOUT = 60
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
COUNTS = (1, 5, 16, 32)
RULES = refkit.RewardRules(
    referrer_reward=Reward.fixed(Decimal("1"), "EUR"),
    milestones=[Milestone(count, Reward.points(count)) for count in COUNTS],
)


def pending(program: refkit.ReferralProgram) -> list[int]:
    """Alice's 32 referees bought once each: 32 pending rewards, their ids."""
    code = program.code_for("alice")
    ids = []
    for n in range(REFEREES):
        program.attribute(f"friend-{n}", code)
        conversion = program.record_conversion(f"order-{n}", f"friend-{n}", "40", "EUR")
        ids.append(conversion.rewards[0].id)
    return ids


def approve(program: refkit.ReferralProgram, index: int, reward_id: int) -> str:
    try:
        if index % 2:
            program.approve_due()
        else:
            program.approve(reward_id)
        return "ok"
    except Exception as error:  # reported, so the test names what escaped
        return f"{type(error).__module__}.{type(error).__name__}: {error}"


def check_paid_once(program: refkit.ReferralProgram, results: list[str]) -> None:
    assert set(results) == {"ok"}, set(results)
    program.approve_due()  # whatever an approve_due that ran early left behind
    rewards = program.rewards(user_id="alice", limit=1000)
    orders = [r for r in rewards if r.order_id is not None]
    assert len(orders) == REFEREES
    assert {r.status for r in orders} == {"approved"}
    assert sorted(r.milestone for r in rewards if r.milestone is not None) == list(COUNTS)
    assert program.balance("alice", None) == sum(COUNTS)
    stats = program.stats_for("alice")
    assert (stats.milestone_progress, stats.next_milestone) == (REFEREES, None)


def test_threads_approving_one_referrers_rewards_pay_each_milestone_once(
    make_program: Callable[..., refkit.ReferralProgram],
) -> None:
    program = make_program(rules=RULES)
    ids = pending(program)
    reached: list[int | None] = []
    lock = threading.Lock()

    def on_reached(bonus: refkit.EarnedReward) -> None:
        with lock:
            reached.append(bonus.milestone)

    program.on("milestone.reached", on_reached)
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def worker(index: int) -> None:
        barrier.wait(TIMEOUT)
        results[index] = approve(program, index, ids[index])

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "an approver hung"
    check_paid_once(program, results)
    assert sorted(m or 0 for m in reached) == list(COUNTS)


def _approve_in_process(url: str, index: int, ids: list[int], barrier: Any, results: Any) -> None:
    """A worker process: its own program on the same database, 8 approvals after the barrier."""
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=url, rules=RULES, clock=refkit.FrozenClock(START)
    )
    program.store.create_all()
    try:
        barrier.wait(TIMEOUT)
        mine = ids[index * PER_PROCESS : (index + 1) * PER_PROCESS]
        results.put([approve(program, index + n, reward_id) for n, reward_id in enumerate(mine)])
    except BaseException as error:  # never hang the parent
        barrier.abort()
        results.put([f"setup failed: {error}"])
    finally:
        program.store.close()


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_processes_approving_one_referrers_rewards_pay_each_milestone_once(
    store_url: str, make_program: Callable[..., refkit.ReferralProgram]
) -> None:
    program = make_program(rules=RULES)
    ids = pending(program)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    queue = context.Queue()
    processes = [
        context.Process(
            target=_approve_in_process, args=(store_url, i, ids, barrier, queue), daemon=True
        )
        for i in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    results = [outcome for _ in processes for outcome in queue.get(timeout=TIMEOUT * 2)]
    for process in processes:
        process.join(TIMEOUT)
        assert process.exitcode == 0
    assert len(results) == PROCESSES * PER_PROCESS
    check_paid_once(program, results)


@pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("cap", [None, 10])  # with a cap, alice's counters row exists already
def test_two_approvals_counting_at_once_still_reach_the_milestone(
    make_program: Callable[..., refkit.ReferralProgram], cap: int | None
) -> None:
    """The race the referrer's row lock closes, forced: two transactions approve alice's
    two rewards, and each would count before the other commits. Without the lock both
    count one short of the milestone and neither pays it. With it the second waits at the
    lock (so the first never meets it at the barrier, which breaks after a moment) and
    counts after the first's commit. The rewards are in two currencies, so no balance row
    is shared that would serialize the two approvals anyway."""
    rules = refkit.RewardRules(
        referrer_reward=Reward.percent(10),
        milestones=[Milestone(2, Reward.points(2))],
        max_rewards_per_referrer=cap,
    )
    program = make_program(rules=rules)
    code = program.code_for("alice")
    ids = []
    for n, currency in enumerate(("EUR", "USD")):
        program.attribute(f"friend-{n}", code)
        conversion = program.record_conversion(f"o-{n}", f"friend-{n}", "40", currency)
        ids.append(conversion.rewards[0].id)
    engine = program.store.engine  # type: ignore[attr-defined]
    barrier = threading.Barrier(2)

    def after(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "count(*)" in statement and "refkit_rewards" in statement:
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(3)

    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        threads = [
            threading.Thread(target=program.approve, args=(reward_id,), daemon=True)
            for reward_id in ids
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    finally:
        sa.event.remove(engine, "after_cursor_execute", after)
    assert [r.milestone for r in program.rewards(user_id="alice") if r.milestone] == [2]
