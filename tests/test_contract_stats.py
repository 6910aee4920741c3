"""Reports (../shared/API.md, Core): ``stats_for``, ``summary`` and ``leaderboard``.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from decimal import Decimal

import refkit

from .support.contract import (
    Program,
    refer,
)

# -- stats_for, summary, leaderboard -------------------------------------------------------


def test_stats_for_has_visits_signups_conversions_revenue_and_reward_totals_by_status(
    every_order: Program,
) -> None:
    code = every_order.code_for("alice")
    every_order.record_visit(code)
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.record_conversion("o2", "bob", "12.50", "EUR")
    stats = every_order.stats_for("alice")
    assert isinstance(stats, refkit.ReferrerStats)
    assert (stats.visits, stats.signups, stats.conversions) == (1, 1, 2)
    assert stats.revenue == Decimal("42.50")
    assert stats.rewards["pending"] == Decimal("5.00")
    for status in ("approved", "revoked", "reversed"):  # no rewards in it yet: zero
        assert stats.rewards[status] == 0


def test_summary_is_the_program_wide_funnel(every_order: Program) -> None:
    every_order.record_visit(every_order.code_for("alice"))
    refer(every_order, "bob")
    refer(every_order, "carol")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    summary = every_order.summary()
    assert isinstance(summary, refkit.ProgramSummary)
    assert (summary.referrers, summary.visits, summary.signups, summary.conversions) == (
        1,
        1,
        2,
        1,
    )
    assert summary.revenue == Decimal("30.00")
    assert summary.reward_cost == Decimal("10.00")
    assert 0 < summary.conversion_rate <= 1
    assert summary.k_factor > 0


def test_summary_filters_by_period_and_campaign(
    program: Program, clock: refkit.FrozenClock
) -> None:
    code = program.code_for("alice")
    program.record_visit(code, campaign="spring")
    clock.advance(days=1)
    program.record_visit(code)
    assert program.summary(since=clock()).visits == 1
    assert program.summary(until=clock()).visits == 1
    assert program.summary(campaign="spring").visits == 1
    assert program.summary(None, None, "autumn").visits == 0


def test_leaderboard_ranks_referrers_by_conversions_or_revenue(program: Program) -> None:
    refer(program, "bob", "alice")
    refer(program, "carol", "alice")
    refer(program, "dave", "erin")
    program.record_conversion("o1", "bob", "10", "EUR")
    program.record_conversion("o2", "carol", "10", "EUR")
    program.record_conversion("o3", "dave", "500", "EUR")
    board = program.leaderboard()
    assert isinstance(board, list)
    assert [(e.referrer_id, e.conversions, e.revenue) for e in board] == [
        ("alice", 2, Decimal("20.00")),
        ("erin", 1, Decimal("500.00")),
    ]
    by_revenue = program.leaderboard(limit=1, by="revenue")
    assert [e.referrer_id for e in by_revenue] == ["erin"]
