"""Offer dates: referrals bound outside ``[starts_at, ends_at)`` earn nothing; friends
referred inside keep earning within the attribution window after ``ends_at``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

import refkit
from refkit import Reward, RewardRules

MakeProgram = Callable[..., refkit.ReferralProgram]


def rules_around(now: datetime) -> RewardRules:
    return RewardRules(
        referrer_reward=Reward.percent(10),
        referee_reward=Reward.fixed(5, "EUR"),
        starts_at=now,
        ends_at=now + timedelta(days=10),
        attribution_window=timedelta(days=30),
    )


def test_referrals_before_the_start_earn_nothing(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(rules_around(clock()))
    program.attribute("bob", program.code_for("alice"), at=clock() - timedelta(seconds=1))
    conversion = program.record_conversion("o1", "bob", 100, "EUR")
    assert (conversion.rewards, conversion.reasons) == ((), ("offer_not_started",))


def test_referrals_from_the_end_on_earn_nothing(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    rules = rules_around(clock())
    program = make_program(rules)
    program.attribute("bob", program.code_for("alice"), at=rules.ends_at)
    conversion = program.record_conversion("o1", "bob", 100, "EUR", at=rules.ends_at)
    assert (conversion.rewards, conversion.reasons) == ((), ("offer_ended",))


def test_friends_referred_inside_the_dates_keep_earning_in_the_window(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    rules = rules_around(clock())
    assert rules.ends_at is not None
    program = make_program(rules)
    program.attribute("bob", program.code_for("alice"), at=clock())
    program.attribute("carol", program.code_for("alice"), at=rules.ends_at - timedelta(seconds=1))
    later = rules.ends_at + timedelta(days=15)
    bob = program.record_conversion("o1", "bob", 100, "EUR", at=later)
    assert {reward.role for reward in bob.rewards} == {"referrer", "referee"}
    carol = program.record_conversion(
        "o2", "carol", 100, "EUR", at=rules.ends_at + timedelta(days=31)
    )
    assert carol.reasons == ("outside_window",)


@pytest.mark.parametrize(
    "options",
    [
        {"starts_at": datetime(2026, 1, 1)},
        {"ends_at": "2026-01-01"},
        {
            "starts_at": datetime(2026, 1, 2).astimezone(),
            "ends_at": datetime(2026, 1, 1).astimezone(),
        },
    ],
)
def test_bad_dates_are_refused(options: dict[str, object]) -> None:
    with pytest.raises(refkit.ConfigurationError):
        RewardRules(**options)  # type: ignore[arg-type]
