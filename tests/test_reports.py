"""The read model (refkit.reports, program.reports) on every store, and the one "due" condition."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection

import refkit
from refkit import reports
from refkit.reports import BucketTotal, CampaignTotals

RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the clock fixture's time: a Sunday


def story(program: refkit.ReferralProgram, clock: refkit.FrozenClock) -> None:
    """alice refers bob (newsletter) and carol (no campaign, a disposable email: flagged).
    On 1 Mar bob buys 100 EUR, carol 50 EUR; on 3 Mar bob buys 40 USD (no reward: not his
    first purchase); walt (not referred) buys 20 EUR."""
    code = program.code_for("alice")
    program.record_visit(code, campaign="newsletter")
    program.record_visit(code, campaign="newsletter")
    program.record_visit(code)
    program.attribute("bob", code, campaign="newsletter")
    program.attribute("carol", code, email="carol@mailinator.com")
    program.record_conversion("o-1", "bob", Decimal("100"), "EUR")
    program.record_conversion("o-2", "carol", Decimal("50"), "EUR")
    program.record_conversion("w-1", "walt", Decimal("20"), "EUR")
    clock.advance(days=2)
    program.record_conversion("o-3", "bob", Decimal("40"), "USD")


@pytest.fixture
def told(make_program: Any, clock: refkit.FrozenClock) -> refkit.ReferralProgram:
    program: refkit.ReferralProgram = make_program(RULES)
    story(program, clock)
    return program


def test_due_counts_what_approve_due_approves_with_a_flagged_referral(
    told: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    assert [f.referee_id for f in told.flagged_referrals()] == ["carol"]
    assert told.reports.due_count() == 0  # still in the hold period
    clock.advance(days=13)
    due = told.reports.due_rewards()
    assert due.count == told.reports.due_count() == 2  # bob's order; carol's wait for review
    assert {r.order_id for r in due.rewards} == {"o-1"}
    approved = told.approve_due()
    assert sorted(r.id for r in approved) == sorted(r.id for r in due.rewards)
    assert told.reports.due_count() == 0
    told.clear_flags("carol")
    assert told.reports.due_count() == len(told.approve_due()) == 2


def test_due_rewards_lists_the_longest_waiting_first_up_to_the_limit(
    told: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    told.clear_flags("carol")
    due = told.reports.due_rewards(now=START + timedelta(days=15), limit=3)
    assert (due.count, len(due.rewards), due.truncated) == (4, 3, True)
    assert [r.id for r in due.rewards] == sorted(r.id for r in due.rewards)
    assert due.now == START + timedelta(days=15)


def test_program_stats_summary_and_leaderboard_come_from_the_read_model(
    told: refkit.ReferralProgram,
) -> None:
    assert told.stats_for("alice") == told.reports.stats_for("alice")
    assert told.summary() == told.reports.summary()
    assert told.leaderboard() == told.reports.leaderboard()
    stats = told.reports.stats_for("alice")
    assert (stats.visits, stats.signups, stats.conversions, stats.flagged) == (3, 2, 3, 1)
    assert stats.revenue_by_currency == {"EUR": Decimal("150.00"), "USD": Decimal("40.00")}
    summary = told.reports.summary(campaign="newsletter")
    assert (summary.visits, summary.signups, summary.conversions) == (2, 1, 2)


def test_campaigns_split_the_funnel_and_the_money(told: refkit.ReferralProgram) -> None:
    found = {row.campaign: row for row in told.reports.campaigns()}
    assert found == {
        "newsletter": CampaignTotals(
            campaign="newsletter",
            visits=2,
            signups=1,
            conversions=2,
            buyers=1,
            revenue={"EUR": Decimal("100.00"), "USD": Decimal("40.00")},
            reward_cost={"EUR": Decimal("15.00")},
        ),
        None: CampaignTotals(
            campaign=None,
            visits=1,
            signups=1,
            conversions=1,
            buyers=1,
            revenue={"EUR": Decimal("50.00")},
            reward_cost={"EUR": Decimal("10.00")},
        ),
    }
    assert told.reports.campaigns(since=START + timedelta(days=1))[0].visits == 0


def test_money_by_day_and_by_week(told: refkit.ReferralProgram) -> None:
    by_day = told.reports.revenue_by_bucket()
    assert sorted(by_day, key=lambda t: (t.start, t.currency)) == [
        BucketTotal(date(2026, 3, 1), "EUR", Decimal("150.00")),
        BucketTotal(date(2026, 3, 3), "USD", Decimal("40.00")),
    ]
    by_week = told.reports.revenue_by_bucket(by="week")
    assert sorted(by_week, key=lambda t: (t.start, t.currency)) == [
        BucketTotal(date(2026, 2, 23), "EUR", Decimal("150.00")),  # Sunday 1 Mar: that week
        BucketTotal(date(2026, 3, 2), "USD", Decimal("40.00")),
    ]
    assert told.reports.reward_cost_by_bucket() == [
        BucketTotal(date(2026, 3, 1), "EUR", Decimal("25.00"))
    ]
    assert told.reports.revenue_by_bucket(until=START) == []
    assert told.reports.first_activity() == START
    assert told.reports.currencies() == ["EUR", "USD"]


def test_one_referrers_referees_orders_and_buyers(told: refkit.ReferralProgram) -> None:
    referees = told.reports.referrals_of("alice")
    assert [(r.referee_id, r.campaign, r.orders) for r in referees] == [
        ("bob", "newsletter", 2),
        ("carol", None, 1),
    ]
    assert referees[0].revenue == {"EUR": Decimal("100.00"), "USD": Decimal("40.00")}
    assert referees[0].first_order_at == START
    orders = told.reports.conversions_of("alice", limit=2)
    assert [o.order_id for o in orders] == ["o-3", "o-1"]
    assert [len(o.rewards) for o in orders] == [0, 2]
    assert told.reports.buyers_of("alice") == 2
    assert told.reports.buyers_of("nobody") == 0


def test_several_reports_read_one_snapshot(told: refkit.ReferralProgram) -> None:
    def both(connection: Connection) -> tuple[int, int]:
        return reports.buyers_of(connection, "alice"), len(reports.currencies(connection))

    assert told.reports.read(both) == (2, 2)


@pytest.mark.parametrize(
    "call",
    [
        lambda r: r.leaderboard(limit=0),
        lambda r: r.leaderboard(by="visits"),
        lambda r: r.revenue_by_bucket(by="month"),
        lambda r: r.campaigns(since=datetime(2026, 1, 1)),  # naive
        lambda r: r.due_rewards(limit=True),
        lambda r: r.referrals_of("", limit=5),
        lambda r: r.summary(campaign=42),
    ],
)
def test_bad_arguments_raise_validation_errors(program: refkit.ReferralProgram, call: Any) -> None:
    with pytest.raises(refkit.ValidationError):
        call(program.reports)


def test_a_store_without_sql_reads_says_so(clock: refkit.FrozenClock) -> None:
    with pytest.raises(refkit.StorageError, match="reports read refkit's SQL tables"):
        reports.Reports(object(), clock).due_count()
