"""The single-reward rules under concurrency: threads and processes racing on one store.

Every race starts its workers on a barrier, so the calls really overlap. Threads run on every
store (the memory store included); processes (``spawn``: each child opens its own engine on the
same SQLite file or PostgreSQL database, as separate web workers would) on SQLite and
PostgreSQL. Races whose window is a few statements wide are forced open with a hook that holds
one transaction at a chosen statement. Whatever the timing, the database must settle each race
the same way, and nothing but a :class:`refkit.RefkitError` may reach the caller: never a driver
error such as SQLite's "database is locked", and for these races no :class:`refkit.StorageError`
at all.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import random
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import event

import refkit

from .support.settings import SECRET

THREADS = 8
PROCESSES = 4
TIMEOUT = 60  # seconds: a barrier or a result that takes longer means a hang
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AMOUNT = Decimal("100.00")


def rules(cap: int | None = None, *, discount: bool = False) -> refkit.RewardRules:
    """Double-sided rules where every order qualifies: only the database stops a duplicate
    (with ``discount``, the friend also gets 5 EUR off at checkout)."""
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        first_purchase_only=False,
        max_rewards_per_referrer=cap,
        referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR") if discount else None,
    )


@dataclass(frozen=True)
class Outcome:
    """What one worker got: a result, or the exception it raised (as plain data)."""

    result: Any = None
    error_type: str | None = None
    is_refkit_error: bool = False
    is_storage_error: bool = False
    message: str = ""

    @classmethod
    def of(cls, call: Callable[[], Any]) -> Outcome:
        try:
            return cls(result=call())
        except BaseException as error:  # everything, so the test can say what escaped
            return cls(
                error_type=f"{type(error).__module__}.{type(error).__qualname__}",
                is_refkit_error=isinstance(error, refkit.RefkitError),
                is_storage_error=isinstance(error, refkit.StorageError),
                message="".join(traceback.format_exception_only(error)).strip(),
            )

    @property
    def ok(self) -> bool:
        return self.error_type is None


def assert_clean(
    outcomes: list[Outcome], allowed: tuple[type[refkit.RefkitError], ...] = ()
) -> None:
    """Only refkit's own, expected errors reached the callers: no driver error, no lock error,
    no StorageError."""
    assert len(outcomes) > 0
    for outcome in outcomes:
        if outcome.ok:
            continue
        assert outcome.is_refkit_error, f"a non-refkit error escaped: {outcome.message}"
        assert "database is locked" not in outcome.message, outcome.message
        assert not outcome.is_storage_error, f"a race ended in StorageError: {outcome.message}"
        names = {f"{kind.__module__}.{kind.__qualname__}" for kind in allowed}
        assert outcome.error_type in names, f"unexpected error: {outcome.message}"


def run_threads(work: Callable[[int], Any], count: int = THREADS) -> list[Outcome]:
    """Run ``work(0) ... work(count - 1)`` in threads released together by a barrier."""
    barrier = threading.Barrier(count)
    outcomes: list[Outcome | None] = [None] * count

    def worker(index: int) -> None:
        barrier.wait(TIMEOUT)
        outcomes[index] = Outcome.of(lambda: work(index))

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "a worker thread hung"
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def all_rewards(program: refkit.ReferralProgram) -> list[refkit.EarnedReward]:
    return program.rewards(limit=10_000)


@pytest.fixture
def rewarding(make_program) -> refkit.ReferralProgram:  # type: ignore[no-untyped-def]
    return make_program(rules=rules())  # type: ignore[no-any-return]


# -- threads: every store ------------------------------------------------------------------


def test_threads_recording_different_orders_of_one_referee_reward_once(
    rewarding: refkit.ReferralProgram,
) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))

    outcomes = run_threads(
        lambda i: rewarding.record_conversion(f"order-{i}", "bob", AMOUNT, "EUR")
    )

    assert_clean(outcomes)
    conversions = [outcome.result for outcome in outcomes]
    created = [reward for conversion in conversions for reward in conversion.rewards]
    assert sorted(reward.role for reward in created) == ["referee", "referrer"]
    stored = all_rewards(rewarding)
    assert sorted((r.role, r.beneficiary_id) for r in stored) == [
        ("referee", "bob"),
        ("referrer", "alice"),
    ]
    for conversion in conversions:
        if not conversion.rewards:
            assert "already_rewarded" in conversion.reasons
    for i in range(THREADS):  # every order stored, once
        stored_conversion = rewarding.conversion(f"order-{i}")
        assert stored_conversion is not None
        assert stored_conversion.customer_id == "bob"
    assert rewarding.stats_for("alice").conversions == THREADS
    assert len([e for e in rewarding.ledger() if e.kind == "accrued"]) == 2


def test_32_threads_recording_orders_dated_in_any_order_reward_the_earliest_once(
    make_program,  # type: ignore[no-untyped-def]
) -> None:
    """``first_purchase_only`` follows ``at`` (issue 13 finding 9) under a race: 32 orders of
    one referee, dated in shuffled order, recorded at once, with a cap of one referrer
    reward. Later-dated orders' pending rewards are taken over by earlier ones as they come;
    the database keeps one reward per role in slot 0 whatever the timing, and in the end the
    earliest order holds both; every other reward is revoked, and the pending balances hold
    exactly the two live rewards."""
    program = make_program(
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
            referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
            first_purchase_only=True,
            max_rewards_per_referrer=1,
        )
    )
    program.attribute("bob", program.code_for("alice"), at=START - timedelta(days=30))
    count = 32
    hours = list(range(count))
    random.Random(13).shuffle(hours)  # order i is dated hours[i] hours after the first one

    def record(i: int) -> refkit.Conversion:
        at = START - timedelta(days=2) + timedelta(hours=hours[i])
        return program.record_conversion(f"order-{i}", "bob", AMOUNT - hours[i], "EUR", at=at)

    outcomes = run_threads(record, count)

    assert_clean(outcomes)
    earliest = f"order-{hours.index(0)}"
    stored = all_rewards(program)
    live = [r for r in stored if r.status != "revoked"]
    assert sorted((r.order_id, r.role) for r in live) == [
        (earliest, "referee"),
        (earliest, "referrer"),
    ]
    assert {r.status for r in stored} <= {"pending", "revoked"}
    pending: dict[str, Decimal] = {}
    for entry in program.ledger():
        pending[entry.beneficiary_id] = (
            pending.get(entry.beneficiary_id, Decimal(0)) + entry.pending
        )
    assert pending == {"alice": Decimal("10.00"), "bob": Decimal("5.00")}
    for reward in stored:  # every reward's history: accrued, and revoked if it was taken over
        kinds = sorted(e.kind for e in program.ledger() if e.reward_id == reward.id)
        assert kinds == (["accrued"] if reward in live else ["accrued", "revoked"])
    # the cap: alice holds one referrer reward, so carol's purchase is over it
    program.attribute("carol", program.code_for("alice"), at=START - timedelta(days=30))
    assert "cap_reached" in program.record_conversion("carol-1", "carol", AMOUNT, "EUR").reasons
    for i in range(count):  # every order stored, once
        assert program.conversion(f"order-{i}") is not None


def test_threads_replaying_one_order_record_it_once(rewarding: refkit.ReferralProgram) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))

    outcomes = run_threads(lambda _: rewarding.record_conversion("order-1", "bob", AMOUNT, "EUR"))

    assert_clean(outcomes)
    conversions = [outcome.result for outcome in outcomes]
    assert all(conversion == conversions[0] for conversion in conversions)
    assert sorted(reward.role for reward in conversions[0].rewards) == ["referee", "referrer"]
    assert conversions[0] == rewarding.conversion("order-1")
    assert len(all_rewards(rewarding)) == 2
    assert rewarding.stats_for("alice").conversions == 1
    assert len(rewarding.ledger()) == 2


def test_threads_racing_on_a_cap_never_exceed_it(make_program) -> None:  # type: ignore[no-untyped-def]
    program = make_program(rules=rules(cap=3))
    code = program.code_for("alice")
    for i in range(THREADS):
        program.attribute(f"referee-{i}", code)

    outcomes = run_threads(
        lambda i: program.record_conversion(f"order-{i}", f"referee-{i}", AMOUNT, "EUR")
    )

    assert_clean(outcomes)
    conversions = [outcome.result for outcome in outcomes]
    paid = [c for c in conversions if any(r.role == "referrer" for r in c.rewards)]
    capped = [c for c in conversions if "cap_reached" in c.reasons]
    assert len(paid) == 3
    assert len(capped) == THREADS - 3
    assert not {c.order_id for c in paid} & {c.order_id for c in capped}
    stored = all_rewards(program)
    assert len([r for r in stored if r.role == "referrer"]) == 3
    assert len([r for r in stored if r.role == "referee"]) == THREADS  # referee rewards: no cap


def test_threads_attributing_one_referee_to_different_referrers_bind_one(
    program: refkit.ReferralProgram,
) -> None:
    codes = [program.code_for(f"referrer-{i}") for i in range(THREADS)]

    outcomes = run_threads(lambda i: program.attribute("bob", codes[i]))

    assert_clean(outcomes, allowed=(refkit.AlreadyReferred,))
    winners = [outcome.result for outcome in outcomes if outcome.ok]
    assert len(winners) == 1
    referral = program.referral_for("bob")
    assert referral == winners[0]
    assert sum(program.stats_for(f"referrer-{i}").signups for i in range(THREADS)) == 1


def test_threads_racing_a_refers_b_against_b_refers_a_bind_one_way(
    program: refkit.ReferralProgram,
) -> None:
    for pair in range(3):
        a, b = f"a-{pair}", f"b-{pair}"
        code_a, code_b = program.code_for(a), program.code_for(b)

        def bind(i: int, a: str = a, b: str = b, ca: str = code_a, cb: str = code_b) -> Any:
            # even threads: a refers b; odd threads: b refers a
            return program.attribute(b, ca) if i % 2 == 0 else program.attribute(a, cb)

        outcomes = run_threads(bind)

        assert_clean(outcomes, allowed=(refkit.SelfReferral,))
        referrals = [r for r in (program.referral_for(a), program.referral_for(b)) if r]
        assert len(referrals) == 1
        won = referrals[0]
        for i, outcome in enumerate(outcomes):
            same_direction = (i % 2 == 0) == (won.referee_id == b)
            if same_direction:
                assert outcome.result == won
            else:
                assert outcome.error_type == "refkit.errors.SelfReferral"


def test_threads_issuing_one_users_code_agree_on_it(store: refkit.Store) -> None:
    programs = [refkit.ReferralProgram(secret_key=SECRET, store=store) for _ in range(THREADS)]

    outcomes = run_threads(lambda i: programs[i].code_for("alice"))

    assert_clean(outcomes)
    assert len({outcome.result for outcome in outcomes}) == 1
    assert programs[0].resolve(outcomes[0].result) == "alice"
    assert programs[0].summary().referrers == 1


# -- forced interleavings: every store ----------------------------------------------------
#
# Some races have a window of a few statements, too narrow to hit by chance in a test. These
# tests widen it: an SQLAlchemy ``before_cursor_execute`` hook holds one transaction just
# before a given statement (for at most PAUSE seconds, or until the other side is done), on the
# real database. A store that settles the race with locks or constraints simply makes the
# other side wait out the pause; a store that does not shows the broken state.

PAUSE = 0.5


class Pause:
    """Holds the next statement starting with ``prefix`` in each thread that called
    :meth:`arm`, until ``until()`` is true or PAUSE seconds have passed."""

    def __init__(self, prefix: str, until: Callable[[], bool]) -> None:
        self.prefix = prefix
        self.until = until
        self.reached = threading.Event()  # some armed thread reached the statement
        self._armed = threading.local()

    def arm(self) -> None:
        self._armed.on = True

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if getattr(self._armed, "on", False) and statement.lstrip().startswith(self.prefix):
            self._armed.on = False
            self.reached.set()
            deadline = time.monotonic() + PAUSE
            while not self.until() and time.monotonic() < deadline:
                time.sleep(0.005)


@contextlib.contextmanager
def pause_before(
    program: refkit.ReferralProgram, prefix: str, until: Callable[[], bool]
) -> Iterator[Pause]:
    """Install a :class:`Pause` on the program's engine for the duration of the block."""
    store = program.store
    assert isinstance(store, refkit.SqlStore)
    pause = Pause(prefix, until)
    event.listen(store.engine, "before_cursor_execute", pause)
    try:
        yield pause
    finally:
        event.remove(store.engine, "before_cursor_execute", pause)


def assert_ledger_matches_stats(program: refkit.ReferralProgram, users: list[str]) -> None:
    """Each reward's ledger history adds up to its status and value, and so do the users'."""
    for reward in all_rewards(program):
        lines = [e for e in program.ledger(reward.beneficiary_id) if e.reward_id == reward.id]
        pending = sum((e.pending for e in lines), Decimal(0))
        approved = sum((e.approved for e in lines), Decimal(0))
        assert pending == (reward.value if reward.status == "pending" else 0), reward
        assert approved == (reward.value if reward.status == "approved" else 0), reward
    for user in users:
        entries = program.ledger(user)
        balances = program.stats_for(user).rewards
        assert sum((e.pending for e in entries), Decimal(0)) == balances.get("pending", 0)
        assert sum((e.approved for e in entries), Decimal(0)) == balances.get("approved", 0)


@pytest.mark.parametrize("refund", [None, Decimal("50")], ids=["full_refund", "partial_refund"])
def test_a_refund_racing_the_approval_job_keeps_rewards_and_ledger_right(
    make_program: Callable[..., refkit.ReferralProgram],
    clock: refkit.FrozenClock,
    refund: Decimal | None,
) -> None:
    """The refund reads the order's live rewards; the approval job approves them before the
    refund writes. The refund must still revoke or reverse (full) or lower (partial) what
    the job approved, and the ledger must still add up."""
    program = make_program(
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.percent(10),
            referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
            hold_period=timedelta(days=14),
        )
    )
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("order-1", "bob", AMOUNT, "EUR")
    clock.advance(days=15)
    approved = threading.Event()
    outcomes: dict[str, Outcome] = {}

    with pause_before(program, "UPDATE refkit_rewards", approved.is_set) as pause:

        def refunder() -> None:
            pause.arm()
            outcomes["refund"] = Outcome.of(lambda: program.refund("order-1", refund))

        def approver() -> None:
            outcomes["approve"] = Outcome.of(program.approve_due)
            approved.set()

        refunding = threading.Thread(target=refunder, daemon=True)
        refunding.start()
        assert pause.reached.wait(TIMEOUT), "the refund never reached its reward update"
        approving = threading.Thread(target=approver, daemon=True)
        approving.start()
        for thread in (refunding, approving):
            thread.join(TIMEOUT)
            assert not thread.is_alive()

    assert_clean(list(outcomes.values()))
    conversion = program.conversion("order-1")
    assert conversion is not None
    if refund is None:
        assert conversion.refunded_amount == AMOUNT
        statuses = {reward.role: reward.status for reward in conversion.rewards}
        assert set(statuses.values()) <= {"revoked", "reversed"}, (
            f"a fully refunded order kept live rewards: {statuses}"
        )
    else:
        referrer_reward = next(r for r in conversion.rewards if r.role == "referrer")
        assert referrer_reward.value == Decimal("5.00")  # 10 percent of the 50 kept
    assert_ledger_matches_stats(program, ["alice", "bob"])


def test_threads_cannot_close_a_three_person_referral_cycle(
    program: refkit.ReferralProgram,
) -> None:
    """a refers b, b refers c and c refers a, at once: each checks for a cycle before any
    inserts. However they interleave, one of them closes the cycle and must be refused."""
    codes = {user: program.code_for(user) for user in ("a", "b", "c")}
    bindings = [("b", "a"), ("c", "b"), ("a", "c")]  # (referee, referrer)
    inserting = threading.Barrier(len(bindings))

    def all_checked() -> bool:  # release the inserts once all three have checked
        with contextlib.suppress(threading.BrokenBarrierError):
            inserting.wait(PAUSE)
        return True

    with pause_before(program, "INSERT INTO refkit_referrals", all_checked) as pause:

        def bind(i: int) -> refkit.Referral:
            pause.arm()
            referee, referrer = bindings[i]
            return program.attribute(referee, codes[referrer])

        outcomes = run_threads(bind, len(bindings))

    assert_clean(outcomes, allowed=(refkit.SelfReferral,))
    bound = {u: r.referrer_id for u in codes if (r := program.referral_for(u)) is not None}
    assert len(bound) == 2, f"a referral cycle was stored: {bound}"
    assert [outcome.ok for outcome in outcomes].count(False) == 1


# -- processes: SQLite file and PostgreSQL -------------------------------------------------


#: ("record_conversion", (order, customer)), ("claim_discount", (order, customer)),
#: ("attribute", (referee, code)),
#: ("code_for", (user,)) or ("create_all", ()): plain strings cross process boundaries as is.
Call = tuple[str, tuple[str, ...]]


def _serve(index: int, inbox: Any, results: Any, barrier: Any) -> None:
    """A worker process: for each task, its own program on the task's database (the same key
    and rules as the test's), every call released together with the other workers'."""
    while (task := inbox.get()) is not None:
        url, cap, calls = task
        try:
            discount = any(method == "claim_discount" for method, _ in calls)
            program = refkit.ReferralProgram(
                secret_key=SECRET,
                store=url,
                rules=rules(cap, discount=discount),
                clock=refkit.FrozenClock(START),
            )
            if calls[0][0] != "create_all":
                program.store.create_all()  # connect before the barrier: the race is the calls
            outcomes = [_call(program, method, args, barrier) for method, args in calls]
            program.store.close()
        except BaseException as error:  # report a failed setup; never hang the parent
            barrier.abort()
            outcomes = [Outcome.of(partial(_reraise, error))]
        results.put((index, outcomes))


def _call(
    program: refkit.ReferralProgram, method: str, args: tuple[str, ...], barrier: Any
) -> Outcome:
    barrier.wait(TIMEOUT)
    if method == "record_conversion":
        order, customer = args
        return Outcome.of(lambda: program.record_conversion(order, customer, AMOUNT, "EUR"))
    if method == "claim_discount":
        order, customer = args
        return Outcome.of(lambda: program.claim_discount(order, customer, AMOUNT, "EUR"))
    if method == "attribute":
        referee, code = args
        return Outcome.of(lambda: program.attribute(referee, code))
    if method == "code_for":
        return Outcome.of(lambda: program.code_for(args[0]))
    assert method == "create_all"
    return Outcome.of(program.store.create_all)


def _reraise(error: BaseException) -> None:
    raise error


class Workers:
    """:data:`PROCESSES` spawned worker processes, started once (imports are the slow part)."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.barrier = context.Barrier(PROCESSES)
        self.results = context.Queue()
        self.inboxes = [context.Queue() for _ in range(PROCESSES)]
        self.processes = [
            context.Process(
                target=_serve, args=(i, self.inboxes[i], self.results, self.barrier), daemon=True
            )
            for i in range(PROCESSES)
        ]
        for process in self.processes:
            process.start()

    def run(
        self, url: str, cap: int | None, calls: Callable[[int], list[Call]]
    ) -> list[list[Outcome]]:
        """Worker ``i`` runs ``calls(i)`` on ``url``; each call starts together in all workers."""
        self.barrier.reset()
        for i, inbox in enumerate(self.inboxes):
            inbox.put((url, cap, calls(i)))
        collected: dict[int, list[Outcome]] = {}
        try:
            for _ in self.inboxes:
                index, outcomes = self.results.get(timeout=TIMEOUT * 2)
                collected[index] = outcomes
        except queue.Empty:  # pragma: no cover - only on a hang
            pytest.fail(f"worker processes hung; results came from {sorted(collected)}")
        return [collected[i] for i in range(PROCESSES)]

    def close(self) -> None:
        for inbox in self.inboxes:
            inbox.put(None)
        for process in self.processes:
            process.join(TIMEOUT)
            if process.is_alive():  # pragma: no cover - only on a hang
                process.kill()
                process.join()
        for channel in (self.results, *self.inboxes):
            channel.close()
            channel.join_thread()
        assert all(process.exitcode == 0 for process in self.processes)


@pytest.fixture(scope="module")
def workers() -> Iterator[Workers]:
    started = Workers()
    yield started
    started.close()


process_stores = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)


@process_stores
def test_processes_replaying_one_order_record_it_once(
    workers: Workers, store_url: str, rewarding: refkit.ReferralProgram
) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))

    per_process = workers.run(
        store_url, None, lambda _: [("record_conversion", ("order-1", "bob"))] * 3
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert_clean(outcomes)
    stored = rewarding.conversion("order-1")
    assert stored is not None
    assert sorted(reward.role for reward in stored.rewards) == ["referee", "referrer"]
    assert all(outcome.result == stored for outcome in outcomes)
    assert len(all_rewards(rewarding)) == 2
    assert len(rewarding.ledger()) == 2
    assert rewarding.stats_for("alice").conversions == 1


@process_stores
def test_processes_recording_orders_of_one_referee_reward_once(
    workers: Workers, store_url: str, rewarding: refkit.ReferralProgram
) -> None:
    rewarding.attribute("bob", rewarding.code_for("alice"))
    rounds = 3

    per_process = workers.run(
        store_url,
        None,
        lambda i: [("record_conversion", (f"order-{i}-{n}", "bob")) for n in range(rounds)],
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert_clean(outcomes)
    created = [reward for outcome in outcomes for reward in outcome.result.rewards]
    assert sorted(reward.role for reward in created) == ["referee", "referrer"]
    assert sorted((r.role, r.beneficiary_id) for r in all_rewards(rewarding)) == [
        ("referee", "bob"),
        ("referrer", "alice"),
    ]
    for i in range(PROCESSES):
        for n in range(rounds):
            assert rewarding.conversion(f"order-{i}-{n}") is not None
    assert rewarding.stats_for("alice").conversions == PROCESSES * rounds


@process_stores
def test_processes_racing_on_a_cap_never_exceed_it(
    workers: Workers, store_url: str, make_program: Callable[..., refkit.ReferralProgram]
) -> None:
    program = make_program(rules=rules(cap=3))
    code = program.code_for("alice")
    for i in range(PROCESSES * 2):
        program.attribute(f"referee-{i}", code)

    per_process = workers.run(
        store_url,
        3,
        lambda i: [
            ("record_conversion", (f"order-{i}-{n}", f"referee-{i * 2 + n}")) for n in range(2)
        ],
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert_clean(outcomes)
    conversions = [outcome.result for outcome in outcomes]
    assert len([c for c in conversions if any(r.role == "referrer" for r in c.rewards)]) == 3
    assert len([c for c in conversions if "cap_reached" in c.reasons]) == PROCESSES * 2 - 3
    assert len([r for r in all_rewards(program) if r.role == "referrer"]) == 3


@process_stores
def test_processes_attributing_one_referee_bind_one_referrer(
    workers: Workers, store_url: str, program: refkit.ReferralProgram
) -> None:
    codes = [program.code_for(f"referrer-{i}") for i in range(PROCESSES)]

    per_process = workers.run(
        store_url, None, lambda i: [("attribute", (f"bob-{n}", codes[i])) for n in range(3)]
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert_clean(outcomes, allowed=(refkit.AlreadyReferred,))
    for n in range(3):
        round_outcomes = [outcomes[n] for outcomes in per_process]
        winners = [outcome.result for outcome in round_outcomes if outcome.ok]
        assert len(winners) == 1
        assert program.referral_for(f"bob-{n}") == winners[0]


@process_stores
def test_processes_starting_on_a_fresh_database_create_it_once(
    workers: Workers, store_url: str, store: refkit.Store
) -> None:
    """Web workers starting together on an empty database: the schema is created once, and
    their first code for the same user is the same code."""
    per_process = workers.run(
        store_url, None, lambda _: [("create_all", ()), ("code_for", ("alice",))]
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert_clean(outcomes)
    codes = {outcomes[1].result for outcomes in per_process}
    assert len(codes) == 1
    program = refkit.ReferralProgram(secret_key=SECRET, store=store)
    assert program.code_for("alice") in codes
    assert program.summary().referrers == 1


# -- the friend's discount: one live claim per referee ---------------------------------------

CLAIMERS = 32


def _one_live_claim(program: refkit.ReferralProgram, offers: list[refkit.Offer]) -> None:
    granted = [offer for offer in offers if offer.discount > 0]
    assert len(granted) == 1, granted
    refused = [offer for offer in offers if offer.discount == 0]
    assert all(offer.reasons == ("discount_already_claimed",) for offer in refused)
    winner = granted[0]
    assert winner.order_id is not None
    # the winner's order converts with the discount; no other order can
    paid = program.record_conversion(winner.order_id, "bob", AMOUNT - winner.discount, "EUR")
    assert [r.kind for r in paid.rewards if r.role == "referee"].count("discount") == 1


def test_threads_claiming_one_referees_discount_get_one_live_claim(
    make_program: Callable[..., refkit.ReferralProgram],
) -> None:
    program = make_program(rules=rules(discount=True))
    program.attribute("bob", program.code_for("alice"))

    outcomes = run_threads(
        lambda i: program.claim_discount(f"cart-{i}", "bob", AMOUNT, "EUR"), CLAIMERS
    )

    assert_clean(outcomes)
    _one_live_claim(program, [outcome.result for outcome in outcomes])


@process_stores
def test_processes_claiming_one_referees_discount_get_one_live_claim(
    workers: Workers, store_url: str, make_program: Callable[..., refkit.ReferralProgram]
) -> None:
    program = make_program(rules=rules(discount=True))
    program.attribute("bob", program.code_for("alice"))
    rounds = CLAIMERS // PROCESSES

    per_process = workers.run(
        store_url,
        None,
        lambda i: [("claim_discount", (f"cart-{i}-{n}", "bob")) for n in range(rounds)],
    )

    outcomes = [outcome for outcomes in per_process for outcome in outcomes]
    assert len(outcomes) == CLAIMERS
    assert_clean(outcomes)
    _one_live_claim(program, [outcome.result for outcome in outcomes])
