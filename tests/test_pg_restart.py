"""A PostgreSQL restart while the app runs: StorageError during the outage, then business as usual.

The test stops the local cluster (Debian's ``pg_ctlcluster``, so it needs root, as in CI) for a
few seconds, once. During the outage every call raises :class:`refkit.StorageError` quickly (not a
driver error, not a hang); once the server is back, the same program object works again (its
pooled connections died with the server) and replaying the orders that failed records each
exactly once. The server is started again whatever happens, since the rest of the suite needs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

import refkit

from .support.settings import REQUIRE_POSTGRES, SECRET, clean_postgres

pytestmark = pytest.mark.postgres

CONNECT_TIMEOUT = 2  # seconds; refkit's engines set none (libpq's default is to wait forever)
OUTAGE_CALL_LIMIT = 10  # seconds a call may take to fail while the server is down
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
)
BEFORE = ["bob", "carol", "dave"]  # customers who buy before the outage
DURING = ["erin", "frank"]  # customers whose orders fail during it, then are replayed


def _cluster_or_skip(url: str) -> str:
    """The local cluster's version, if this process can restart the server at ``url``."""
    versions = sorted(
        (p.name for p in Path("/etc/postgresql").glob("*") if (p / "main").is_dir()),
        key=lambda v: [int(part) for part in v.split(".") if part.isdigit()],
    )
    problem = None
    if shutil.which("pg_ctlcluster") is None or not versions:
        problem = "needs Debian's pg_ctlcluster and a cluster in /etc/postgresql"
    elif os.geteuid() != 0:
        problem = "needs root to stop and start the PostgreSQL cluster"
    elif make_url(url).host not in (None, "", "localhost", "127.0.0.1", "::1"):
        problem = "the test server is not local, so it cannot be restarted"
    if problem is not None:
        if REQUIRE_POSTGRES and os.environ.get("CI"):
            pytest.fail(f"the PostgreSQL restart test {problem}")
        pytest.skip(f"the PostgreSQL restart test {problem}")
    return versions[-1]


def _pg_ctlcluster(version: str, action: str) -> None:
    # "stop" is a fast shutdown: sessions are ended at once, as in a crash or a failover.
    command = [shutil.which("pg_ctlcluster") or "pg_ctlcluster", version, "main", action]
    subprocess.run(command, check=True, timeout=60, capture_output=True)  # noqa: S603


def _wait_until_up(url: str, limit: float = 60) -> None:
    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        engine.dispose()


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return {
                name: connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                for name in ("refkit_conversions", "refkit_rewards", "refkit_ledger")
            }
    finally:
        engine.dispose()


def _buy(program: refkit.ReferralProgram, customer: str) -> refkit.Conversion:
    return program.record_conversion(f"order-{customer}", customer, "100.00", "EUR")


def test_a_server_restart_fails_calls_cleanly_and_loses_or_doubles_nothing(
    postgres_database: str,
) -> None:
    version = _cluster_or_skip(postgres_database)
    clean_postgres(postgres_database)
    url = make_url(postgres_database).update_query_dict({"connect_timeout": str(CONNECT_TIMEOUT)})
    clock = refkit.FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    program = refkit.ReferralProgram(
        SECRET, store=url.render_as_string(hide_password=False), rules=RULES, clock=clock
    )
    created: list[refkit.EarnedReward] = []
    program.on("reward.created", created.append)
    code = program.code_for("alice")
    for customer in BEFORE + DURING:
        program.attribute(customer, code)
    for customer in BEFORE:
        assert len(_buy(program, customer).rewards) == 2

    failures: list[tuple[str, str, float]] = []
    try:
        _pg_ctlcluster(version, "stop")
        attempts = [(f"record_conversion {c}", lambda c=c: _buy(program, c)) for c in DURING]
        attempts += [
            ("approve_due", program.approve_due),
            ("refund", lambda: program.refund("order-bob")),
            ("stats_for", lambda: program.stats_for("alice")),
        ]
        for name, call in attempts:
            started = time.monotonic()
            with pytest.raises(refkit.StorageError) as raised:
                call()
            elapsed = time.monotonic() - started
            failures.append((name, type(raised.value.__cause__).__name__, elapsed))
            assert elapsed < OUTAGE_CALL_LIMIT, f"{name} took {elapsed:.1f}s to fail"
    finally:
        _pg_ctlcluster(version, "start")
        _wait_until_up(postgres_database)

    assert [name for name, _, _ in failures] == [name for name, _ in attempts]
    assert len(created) == 2 * len(BEFORE)  # nothing was created during the outage

    # The same program works again: the pool's dead connections are replaced.
    for customer in DURING:  # the orders that failed, replayed once...
        conversion = _buy(program, customer)
        assert sorted(r.role for r in conversion.rewards) == ["referee", "referrer"]
    for customer in BEFORE + DURING:  # ...and every order once more, as a nervous shop would
        _buy(program, customer)
    customers = BEFORE + DURING
    assert len(created) == 2 * len(customers)
    assert sorted(r.beneficiary_id for r in created if r.role == "referee") == sorted(customers)
    assert _counts(postgres_database) == {
        "refkit_conversions": len(customers),
        "refkit_rewards": 2 * len(customers),
        "refkit_ledger": 2 * len(customers),
    }
    stats = program.stats_for("alice")
    assert stats.conversions == len(customers)
    assert stats.rewards["pending"] == Decimal("10.00") * len(customers)
    program.store.close()
