"""The scale benchmark runs, and its bulk seed writes exactly what the engine writes.

Tiny sizes only (2k visits); no time is asserted (see bench/__init__.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import scale
from bench.report import markdown, text_table
from refkit import ReferralProgram, SqlStore

from .support.settings import postgres_url_or_skip

SIZE = 2_000
QUERIES = 5  # stats_for heavy and typical, leaderboard, summary, summary by campaign


@pytest.fixture(scope="module")
def plan() -> scale.Plan:
    return scale.make_plan(SIZE)


@pytest.fixture(scope="module")
def rows(plan: scale.Plan) -> scale.EngineRows:
    return scale.engine_rows(plan)


@pytest.fixture(scope="module")
def expected() -> scale.Reference:
    """The plan driven through the public API (once: run_sizes reuses it)."""
    return scale.reference_for(SIZE)


@pytest.fixture
def seeded(tmp_path: Path, plan: scale.Plan, rows: scale.EngineRows) -> Iterator[ReferralProgram]:
    program = ReferralProgram(scale.SECRET, f"sqlite:///{tmp_path / 'seeded.db'}", scale.RULES)
    store = program.store
    assert isinstance(store, SqlStore)
    scale.seed(store.engine, plan, rows)
    yield program
    program.store.close()


def test_the_plan_has_the_announced_shape(plan: scale.Plan, rows: scale.EngineRows) -> None:
    assert sum(len(batch) for batch in scale.visit_batches(plan)) == SIZE
    assert len(plan.referrals) == len(plan.orders) == SIZE // 10
    referees = {referral.referee for referral in plan.referrals}
    buyers = {order.customer for order in plan.orders if order.customer in referees}
    # Exactly one referrer and one referee reward per referee who bought, on the first order.
    assert len(rows.rewards) == 2 * len(buyers)
    signups = Counter(referral.referrer for referral in plan.referrals)
    assert signups[plan.heavy] == max(signups.values())
    assert 0 < signups[plan.typical] < signups[plan.heavy]


def test_seeded_stats_match_hand_counts(seeded: ReferralProgram, plan: scale.Plan) -> None:
    heavy = seeded.stats_for(plan.heavy)
    visits = Counter(row[0] for batch in scale.visit_batches(plan) for row in batch)
    assert heavy.visits == visits[plan.heavy]
    mine = {r.referee for r in plan.referrals if r.referrer == plan.heavy}
    assert heavy.signups == len(mine)
    assert heavy.conversions == sum(order.customer in mine for order in plan.orders)
    summary = seeded.summary()
    assert (summary.visits, summary.signups, summary.referrers) == (
        SIZE,
        SIZE // 10,
        len(plan.holders),
    )
    assert summary.conversions == sum(not o.customer.startswith("org-") for o in plan.orders)


def test_seeded_sqlite_matches_the_api(
    seeded: ReferralProgram, expected: scale.Reference, plan: scale.Plan
) -> None:
    assert scale.check_seed(expected, seeded) == []
    # The engine carries on where the seed stopped (ids, constraints).
    stored = seeded.record_conversion("after-seed", plan.referrals[0].referee, "10.00", "EUR")
    assert stored.referrer_id == plan.referrals[0].referrer


def test_a_wrong_seed_is_caught(
    tmp_path: Path, plan: scale.Plan, rows: scale.EngineRows, expected: scale.Reference
) -> None:
    first = rows.rewards[0]
    wrong = scale.EngineRows(
        **{**vars(rows), "rewards": [(*first[:7], *(n + 1 for n in first[7:9]), *first[9:])]}
    )
    wrong.rewards += rows.rewards[1:]
    program = ReferralProgram(scale.SECRET, f"sqlite:///{tmp_path / 'wrong.db'}", scale.RULES)
    try:
        store = program.store
        assert isinstance(store, SqlStore)
        scale.seed(store.engine, plan, wrong)
        problems = scale.check_seed(expected, program)
    finally:
        program.store.close()
    assert any(problem.startswith("refkit_rewards:") for problem in problems)
    assert "stats_for differs" in problems


def test_sqlite_scale_benchmark_runs(expected: scale.Reference) -> None:
    report = scale.run_sizes(None, (SIZE,), stats_rounds=3, rounds=2)
    assert len(report.rows) == QUERIES
    for row in report.rows:
        assert row.refkit > 0
        assert row.at_most is not None
        assert row.met is not None
    assert all(line.ok for line in report.lines)
    assert "matches the same plan driven through the API" in report.lines[0].text
    table = text_table(report.rows, report.lines, report.notes)
    assert "<= 5 ms" in table
    assert "<= 500 ms" in table
    assert markdown(report.rows, report.lines, report.notes, "smoke").startswith("# refkit")


@pytest.mark.postgres
def test_postgres_scale_benchmark_runs(expected: scale.Reference) -> None:
    url = postgres_url_or_skip()
    report = scale.run_sizes(url, (SIZE,), stats_rounds=3, rounds=2, sqlite=False)
    assert report.rows[0].name == "scale 2k PostgreSQL: stats_for (heavy)"
    assert len(report.rows) == QUERIES
    assert all(line.ok for line in report.lines)
    # The COPY seed matches the plan driven through the API, like the executemany one.
    assert "the PostgreSQL database seeded at 2k matches" in report.lines[0].text
