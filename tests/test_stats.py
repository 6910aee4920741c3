"""Stats: per referrer, program summary, leaderboard."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules


@pytest.fixture
def busy(make_program, clock) -> refkit.ReferralProgram:
    """alice brings bob and carol (spring campaign), bob brings dave; erin comes alone."""
    program = make_program(
        rules=RewardRules(
            referrer_reward=Reward.fixed(Decimal("5"), "EUR"),
            referee_reward=Reward.points(50),
        )
    )
    alice = program.code_for("alice")
    for _ in range(3):
        program.record_visit(alice, campaign="spring")
    program.record_visit(alice)
    program.attribute("bob", alice, campaign="spring")
    program.attribute("carol", alice, campaign="spring")
    program.attribute("dave", program.code_for("bob"))
    clock.advance(days=1)
    program.record_conversion("o1", "bob", Decimal("100"), "EUR")
    program.record_conversion("o2", "bob", Decimal("50"), "EUR")
    program.record_conversion("o3", "dave", Decimal("70"), "EUR")
    program.record_conversion("o4", "erin", Decimal("999"), "EUR")
    program.refund("o2", Decimal("10"))
    return program  # type: ignore[no-any-return]


def test_stats_for(busy: refkit.ReferralProgram) -> None:
    alice = busy.stats_for("alice")
    assert (alice.visits, alice.signups, alice.conversions) == (4, 2, 2)
    assert alice.revenue == Decimal("140.00")
    assert alice.revenue_by_currency == {"EUR": Decimal("140.00")}
    assert alice.rewards == {"pending": Decimal("5.00")}
    bob = busy.stats_for("bob")
    assert (bob.signups, bob.conversions, bob.revenue) == (1, 1, Decimal("70.00"))
    assert bob.rewards == {"pending": Decimal("5.00")}
    assert bob.points == {"pending": 50}


def test_stats_for_a_stranger_are_zero(busy: refkit.ReferralProgram) -> None:
    stats = busy.stats_for("nobody")
    assert (stats.visits, stats.signups, stats.conversions, stats.revenue) == (0, 0, 0, 0)
    assert stats.balance == 0


def test_summary(busy: refkit.ReferralProgram) -> None:
    summary = busy.summary()
    assert summary.referrers == 2  # alice and bob hold codes
    assert (summary.visits, summary.signups, summary.conversions) == (4, 3, 3)
    assert summary.revenue == Decimal("210.00")
    assert summary.first_purchases == 2
    assert summary.conversion_rate == pytest.approx(2 / 3)
    assert summary.reward_cost == Decimal("10.00")
    assert summary.k_factor == pytest.approx(3 / 2)
    assert summary.rewarded == 2
    assert (summary.signups_bought, summary.signups_rewarded) == (2, 2)


def test_summary_follows_the_signups_of_the_period_as_a_cohort(make_program, clock) -> None:
    """Four friends sign up 20 days ago and three of them buy in the last week; one more signs
    up in the last week and does not buy. Dividing the week's buyers by the week's signups gave
    3 / 1 = 300%; the cohort rate is the share of the week's signups who bought: 0 of 1."""
    program = make_program(rules=RewardRules(referrer_reward=Reward.fixed(Decimal("5"), "EUR")))
    start = clock()
    alice = program.code_for("alice")
    for friend in ("bob", "carol", "dave", "erin"):
        program.attribute(friend, alice, at=start - timedelta(days=20))
    program.attribute("fred", alice, at=start - timedelta(days=3))
    for number, friend in enumerate(("bob", "carol", "dave"), 1):
        program.record_conversion(f"o{number}", friend, Decimal("30"), "EUR", at=start)
    program.revoke(program.rewards(user_id="alice")[0].id)  # carol's or bob's: one revoked

    week = program.summary(since=start - timedelta(days=7))
    assert (week.signups, week.first_purchases) == (1, 3)  # the old, mixed figures
    assert (week.signups_bought, week.signups_rewarded, week.conversion_rate) == (0, 0, 0.0)

    month = program.summary(since=start - timedelta(days=30))
    assert (month.signups, month.signups_bought, month.signups_rewarded) == (5, 3, 2)
    assert month.conversion_rate == pytest.approx(3 / 5)
    # the cohort counts the purchases made before ``until`` only
    before = program.summary(until=start)
    assert (before.signups, before.signups_bought, before.conversion_rate) == (5, 0, 0.0)


def test_summary_by_campaign(busy: refkit.ReferralProgram) -> None:
    spring = busy.summary(campaign="spring")
    assert (spring.visits, spring.signups, spring.conversions) == (3, 2, 2)
    assert spring.revenue == Decimal("140.00")
    assert spring.reward_cost == Decimal("5.00")


def test_summary_by_period(busy: refkit.ReferralProgram, clock) -> None:
    day_one = busy.summary(until=clock() - timedelta(hours=1))
    assert (day_one.visits, day_one.signups, day_one.conversions) == (4, 3, 0)
    day_two = busy.summary(since=clock())
    assert (day_two.visits, day_two.signups, day_two.conversions) == (0, 0, 3)
    with pytest.raises(refkit.ValidationError):
        busy.summary(since=clock().replace(tzinfo=None))


def test_empty_summary(program: refkit.ReferralProgram) -> None:
    summary = program.summary()
    assert (summary.conversion_rate, summary.k_factor, summary.revenue) == (0.0, 0.0, 0)


def test_leaderboard(busy: refkit.ReferralProgram) -> None:
    board = busy.leaderboard()
    assert [(e.referrer_id, e.conversions, e.revenue, e.signups) for e in board] == [
        ("alice", 2, Decimal("140.00"), 2),
        ("bob", 1, Decimal("70.00"), 1),
    ]
    assert [e.referrer_id for e in busy.leaderboard(limit=1, by="revenue")] == ["alice"]


@pytest.mark.parametrize(("limit", "by"), [(0, "conversions"), (10, "visits"), (True, "revenue")])
def test_leaderboard_refuses_bad_arguments(
    busy: refkit.ReferralProgram, limit: int, by: str
) -> None:
    with pytest.raises(refkit.ValidationError):
        busy.leaderboard(limit=limit, by=by)
