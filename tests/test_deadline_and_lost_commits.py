"""Real faults under the runner: a hung server, a held lock, a lost COMMIT answer, a binding
frozen at its COMMIT, and PgBouncer in transaction pooling mode (issue 13, findings 3 to 6).

The faults are real (``tests/support/faults.py``): a TCP proxy between refkit and PostgreSQL
that freezes or swallows the answer to COMMIT, another process holding SQLite's write lock,
Debian's PgBouncer. The only timings asserted are the issue's bound: a call past its deadline
returns within the deadline plus one second.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, is_dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.engine import make_url

import refkit
from refkit_flask.failures import failure_log

from .support.faults import PgProxy, SqliteWriteLock
from .support.settings import SECRET, clean_postgres
from .support.shop import browser, program_of

TIMEOUT = 1.0  # seconds: the deadline of the programs below
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=False,
    hold_period=timedelta(days=14),
    referee_discount=refkit.Reward.fixed(Decimal("3"), "EUR"),
    credit_expires_after=timedelta(days=365),
)
OLD_KEY = f"{SECRET}-old"  # rotate_keys() needs a retired key to wrap
OPERATION_INSERT = "INSERT INTO refkit_operations"  # in every write transaction, before COMMIT


def elapsed(call: Callable[[], object]) -> tuple[float, BaseException | None]:
    started = time.monotonic()
    try:
        call()
    except BaseException as error:
        return time.monotonic() - started, error
    return time.monotonic() - started, None


def make(store: str, clock: refkit.FrozenClock, **options: Any) -> refkit.ReferralProgram:
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("secret_key", SECRET)
    return refkit.ReferralProgram(store=store, rules=RULES, clock=clock, **options)


# -- the deadline ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_frozen_server_fails_a_call_within_its_deadline(
    pg_proxy: PgProxy, postgres_database: str, clock: refkit.FrozenClock
) -> None:
    clean_postgres(postgres_database)
    program = make(pg_proxy.url(postgres_database), clock)
    try:
        program.attribute("bob", program.code_for("alice"))  # tables made, a pooled connection
        pg_proxy.freeze()
        took, error = elapsed(lambda: program.record_conversion("o1", "bob", "30", "EUR"))
        assert isinstance(error, refkit.StorageTimeout), error
        assert error.timeout == TIMEOUT
        assert "deadline of 1 s" in str(error)
        assert took < TIMEOUT + 1
        # A second call, with no pooled connection left to try: also bounded.
        took, error = elapsed(lambda: program.record_conversion("o1", "bob", "30", "EUR"))
        assert isinstance(error, refkit.StorageTimeout), error
        assert took < TIMEOUT + 1
        pg_proxy.thaw()
        assert program.record_conversion("o1", "bob", "30", "EUR").rewards  # works again
    finally:
        pg_proxy.thaw()
        program.store.close()  # type: ignore[attr-defined]


def test_an_sqlite_lock_held_by_another_process_fails_a_call_within_its_deadline(
    sqlite_lock: SqliteWriteLock, clock: refkit.FrozenClock
) -> None:
    program = make(f"sqlite:///{sqlite_lock.path}", clock)
    try:
        program.attribute("bob", program.code_for("alice"))
        sqlite_lock.acquire()
        took, error = elapsed(lambda: program.record_conversion("o1", "bob", "30", "EUR"))
        assert isinstance(error, refkit.StorageTimeout), error
        assert took < TIMEOUT + 1
        sqlite_lock.release()
        assert program.record_conversion("o1", "bob", "30", "EUR").rewards
    finally:
        program.store.close()  # type: ignore[attr-defined]


def test_the_timeout_must_be_a_positive_number_or_none() -> None:
    for bad in (0, -1, "2", True):
        with pytest.raises(refkit.ConfigurationError, match="timeout"):
            refkit.ReferralProgram(secret_key=SECRET, store="memory://", timeout=bad)  # type: ignore[arg-type]
    program = refkit.ReferralProgram(secret_key=SECRET, store="memory://", timeout=None)
    program.code_for("alice")


# -- Flask: a tracked checkout answers whatever the database does ------------------------------


def frozen_checkout(app: Flask, freeze: Callable[[], None]) -> None:
    client = browser(app)
    program = program_of(app)
    code = program.code_for("alice")
    program.attribute("carol", code)  # tables made, a pooled connection
    freeze()
    started = time.monotonic()
    response = client.post("/checkout", data={"order": "o1", "customer": "carol"})
    took = time.monotonic() - started
    assert response.status_code == 200
    assert took < app.config["REFKIT_TIMEOUT"] + 1
    recent = failure_log(app).recent(program.clock())
    assert recent.count == 1


@pytest.mark.postgres
def test_a_tracked_checkout_answers_while_postgres_is_frozen(
    make_shop: Callable[..., Flask], pg_proxy: PgProxy, postgres_database: str
) -> None:
    clean_postgres(postgres_database)
    app = make_shop(
        REFKIT_DATABASE_URL=pg_proxy.url(postgres_database),
        REFKIT_TIMEOUT=TIMEOUT,
        REFKIT_RAISE_ERRORS=False,
    )
    try:
        frozen_checkout(app, pg_proxy.freeze)
    finally:
        pg_proxy.thaw()


def test_a_tracked_checkout_answers_while_another_process_holds_the_sqlite_lock(
    make_shop: Callable[..., Flask], sqlite_lock: SqliteWriteLock
) -> None:
    app = make_shop(
        REFKIT_DATABASE_URL=f"sqlite:///{sqlite_lock.path}",
        REFKIT_TIMEOUT=TIMEOUT,
        REFKIT_RAISE_ERRORS=False,
    )
    frozen_checkout(app, sqlite_lock.acquire)


# -- a lost COMMIT answer neither doubles a write nor loses an event ---------------------------


def plain(value: Any) -> Any:
    """Records as plain data, for comparing two runs."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


class Story:
    """The same calls, in order, on a fresh program; one of them may get its COMMIT answer
    dropped. Records what each call returned and every event fired."""

    STEPS = (
        "visit",
        "attribute",
        "conversion",
        "approve",
        "refund",
        "revoke",
        "approve_due",
        "claim",
        "release",
        "redeem",
        "pay_out",
        "expire_credit",
        "identify",
        "clear_flags",
        "revoke_code",
        "rotate_keys",
        "erase",
    )

    def __init__(self, program: refkit.ReferralProgram) -> None:
        self.program = program
        self.events: Counter[str] = Counter()
        self.fired: list[tuple[str, Any]] = []
        for event in refkit.EVENTS:
            program.on(event, lambda record, event=event: self._fired(event, record))

    def _fired(self, event: str, record: Any) -> None:
        self.events[event] += 1
        self.fired.append((event, plain(record)))

    def run(self, before: Callable[[str], None]) -> dict[str, Any]:
        program, returned = self.program, {}
        code = program.code_for("alice")
        program.code_for("dave")
        steps: dict[str, Callable[[], Any]] = {
            "visit": lambda: program.record_visit(code, visitor="v1"),
            "attribute": lambda: program.attribute("bob", code),
            "conversion": lambda: program.record_conversion("o1", "bob", "100.00", "EUR"),
            "approve": lambda: program.approve(self._reward("o1", "referrer")),
            "refund": lambda: program.refund("o1", "10.00"),
            "revoke": lambda: program.revoke(self._reward("o2", "referee")),
            "approve_due": lambda: program.approve_due(program.clock() + timedelta(days=30)),
            "claim": lambda: program.claim_discount("o3", "erin", "40.00", "EUR"),
            "release": lambda: program.release_discount("o3"),
            "redeem": lambda: program.redeem("alice", "1.00", "EUR", reference="r1"),
            "pay_out": lambda: program.pay_out("alice", "2.00", "EUR", reference="p1"),
            "expire_credit": lambda: program.expire_credit(program.clock() + timedelta(days=400)),
            "identify": lambda: program.identify("frank", email="Frank+x@mailinator.com"),
            "clear_flags": lambda: program.clear_flags("frank"),
            # a new random code: compare whom it names
            "revoke_code": lambda: program.resolve(program.revoke_code("dave")),
            "rotate_keys": lambda: program.rotate_keys(),
            "erase": lambda: program.erase("carol"),
        }
        for name in self.STEPS:
            if name == "revoke":  # a second order, not faulted, with rewards to revoke
                program.attribute("carol", code)
                program.record_conversion("o2", "carol", "50.00", "EUR")
            if name == "claim":  # a referee with a discount to claim
                program.attribute("erin", code)
            if name == "identify":  # a referral the disposable address flags
                program.attribute("frank", code)
            before(name)
            returned[name] = plain(steps[name]())
        return returned

    def _reward(self, order: str, role: str) -> int:
        conversion = self.program.conversion(order)
        assert conversion is not None
        return next(r.id for r in conversion.rewards if r.role == role)

    def state(self) -> dict[str, Any]:
        program = self.program
        return {
            "stats": [plain(program.stats_for(user)) for user in ("alice", "bob", "carol")],
            "balances": plain(program.balances()),
            "offers": plain(program.offer_for("erin", "40.00", "EUR")),
            "flagged": plain(program.flagged_referrals()),
            "rewards": plain(program.rewards(limit=100)),
            "ledger": plain(list(program.ledger())),
            "conversions": [plain(program.conversion(order)) for order in ("o1", "o2")],
            "summary": plain(program.summary()),
        }


@pytest.fixture(params=["direct", "pgbouncer"])
def route(request: pytest.FixtureRequest, postgres_database: str) -> Iterator[tuple[str, PgProxy]]:
    """The database URL the stories run on, straight or through PgBouncer (transaction
    pooling), and a proxy in front of that: ``(url, proxy)``."""
    url = postgres_database
    if request.param == "pgbouncer":
        url = request.getfixturevalue("pgbouncer_url")
    parsed = make_url(url)
    proxy = PgProxy((parsed.host or "127.0.0.1", parsed.port or 5432))
    try:
        yield url, proxy
    finally:
        proxy.stop()


@pytest.fixture
def story_stores(
    route: tuple[str, PgProxy], postgres_database: str, clock: refkit.FrozenClock
) -> Iterator[Callable[[bool], refkit.ReferralProgram]]:
    """``make(through_proxy)``: a program on an empty database, straight or through the proxy
    (the clock is frozen and ids start again, so two runs store the same rows)."""
    url, proxy = route
    programs: list[refkit.ReferralProgram] = []

    def new(through_proxy: bool) -> refkit.ReferralProgram:
        clean_postgres(postgres_database)
        target = proxy.url(url) if through_proxy else url
        program = make(target, clock, timeout=10.0, secret_key=[SECRET, OLD_KEY])
        programs.append(program)
        return program

    yield new
    for program in programs:
        program.store.close()  # type: ignore[attr-defined]


@pytest.mark.postgres
@pytest.mark.parametrize("faulted", Story.STEPS)
def test_a_lost_commit_answer_neither_doubles_a_write_nor_loses_an_event(
    story_stores: Callable[[bool], refkit.ReferralProgram],
    route: tuple[str, PgProxy],
    faulted: str,
) -> None:
    proxy = route[1]
    clean = Story(story_stores(False))
    clean_returned = clean.run(lambda _name: None)
    clean_state = clean.state()

    def drop(name: str) -> None:
        if name == faulted:
            proxy.drop_commit_answers(1, after=OPERATION_INSERT)

    faulty = Story(story_stores(True))
    faulty_returned = faulty.run(drop)
    assert proxy.commit_answers_dropped == 1  # the fault happened, on the faulted call
    assert faulty.state() == clean_state  # nothing doubled, nothing lost
    assert faulty_returned == clean_returned  # approve() returns the reward it approved...
    assert faulty.events == clean.events  # ...and every event fired once
    assert faulty.fired == clean.fired
    assert faulty_returned["approve"] is not None


# -- bindings: no global lock, still no cycle ---------------------------------------------------


@pytest.mark.postgres
def test_a_binding_frozen_at_its_commit_does_not_hold_up_an_unrelated_one(
    pg_proxy: PgProxy, postgres_database: str, clock: refkit.FrozenClock
) -> None:
    clean_postgres(postgres_database)
    frozen = make(pg_proxy.url(postgres_database), clock, timeout=30.0)
    other = make(postgres_database, clock, timeout=5.0)  # another connection pool
    outcome: list[object] = []
    try:
        alice, carol = frozen.code_for("alice"), other.code_for("carol")

        def bind() -> None:
            try:
                outcome.append(frozen.attribute("bob", alice))
            except refkit.RefkitError as error:
                outcome.append(error)

        pg_proxy.freeze_at_next_commit(after="INSERT INTO refkit_referrals")
        binding = threading.Thread(target=bind)
        binding.start()
        assert pg_proxy.holding.wait(10), "the binding never reached its COMMIT"
        # With the global lock this waited for the frozen binding: a StorageTimeout at 5 s.
        referral = other.attribute("dave", carol)
        assert (referral.referee_id, referral.referrer_id) == ("dave", "carol")
        assert outcome == []  # still frozen
        pg_proxy.thaw()
        binding.join(30)
        assert [type(o) for o in outcome] == [refkit.Referral]
    finally:
        pg_proxy.thaw()
        frozen.store.close()  # type: ignore[attr-defined]
        other.store.close()  # type: ignore[attr-defined]


@pytest.mark.postgres
def test_a_binding_that_could_close_a_cycle_with_a_frozen_one_waits_for_it(
    pg_proxy: PgProxy, postgres_database: str, clock: refkit.FrozenClock
) -> None:
    clean_postgres(postgres_database)
    frozen = make(pg_proxy.url(postgres_database), clock, timeout=30.0)
    other = make(postgres_database, clock, timeout=TIMEOUT)
    try:
        alice, bob = frozen.code_for("alice"), other.code_for("bob")
        pg_proxy.freeze_at_next_commit(after="INSERT INTO refkit_referrals")
        binding = threading.Thread(target=lambda: frozen.attribute("bob", alice))
        binding.start()
        assert pg_proxy.holding.wait(10)
        # alice -> bob would close a cycle once bob -> alice commits: it must wait, and
        # within its deadline it cannot know, so it fails (nothing stored).
        with pytest.raises(refkit.StorageTimeout):
            other.attribute("alice", bob)
        pg_proxy.thaw()
        binding.join(30)
        with pytest.raises(refkit.SelfReferral):
            other.attribute("alice", bob)
    finally:
        pg_proxy.thaw()
        frozen.store.close()  # type: ignore[attr-defined]
        other.store.close()  # type: ignore[attr-defined]


# -- PgBouncer ----------------------------------------------------------------------------------


@pytest.mark.postgres
def test_threads_through_pgbouncer_never_close_a_cycle_nor_double_a_reward(
    pgbouncer_url: str, postgres_database: str, clock: refkit.FrozenClock, tmp_path: Path
) -> None:
    clean_postgres(postgres_database)
    program = make(pgbouncer_url, clock, timeout=30.0)
    try:
        users = [f"u{n}" for n in range(8)]
        codes = {user: program.code_for(user) for user in users}
        barrier = threading.Barrier(len(users))
        errors: list[BaseException] = []

        def worker(n: int) -> None:
            try:
                barrier.wait(30)
                me, up = users[n], users[(n + 1) % len(users)]
                for round_ in range(6):  # past psycopg's prepare threshold
                    program.record_visit(codes[up], visitor=f"{me}-{round_}")
                with_suppressed(lambda: program.attribute(me, codes[up]))
                with_suppressed(lambda: program.record_conversion(f"order-{me}", me, "40", "EUR"))
                program.record_conversion(f"order-{me}", me, "40", "EUR")  # a replay
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(len(users))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        bound = [program.referral_for(user) for user in users]
        assert sum(r is not None for r in bound) == len(users) - 1  # the ring is never closed
        for user in users:
            conversion = program.conversion(f"order-{user}")
            assert conversion is not None
            assert len(conversion.rewards) == (2 if program.referral_for(user) else 0)
        assert sum(program.stats_for(user).visits for user in users) == 6 * len(users)
    finally:
        program.store.close()  # type: ignore[attr-defined]


def with_suppressed(call: Callable[[], object]) -> None:
    """Run ``call``; a refused binding (the ring's last link) is expected."""
    with contextlib.suppress(refkit.SelfReferral):
        call()
