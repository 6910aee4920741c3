"""Hooks run after the change is stored; a failing hook never undoes it."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest

import refkit
from refkit import Reward, RewardRules


@pytest.fixture
def rewarding(make_program) -> refkit.ReferralProgram:
    return make_program(  # type: ignore[no-any-return]
        rules=RewardRules(referrer_reward=Reward.fixed(Decimal("5"), "EUR"))
    )


def test_events_fire_in_order(rewarding: refkit.ReferralProgram) -> None:
    seen: list[tuple[str, object]] = []
    for event in refkit.EVENTS:
        rewarding.on(event, lambda record, event=event: seen.append((event, record)))
    rewarding.attribute("bob", rewarding.code_for("alice"))
    conversion = rewarding.record_conversion("o1", "bob", 20, "EUR")
    rewarding.record_conversion("o1", "bob", 20, "EUR")  # replay: no events
    rewarding.approve(conversion.rewards[0].id)
    assert [event for event, _ in seen] == [
        "referral.created",
        "conversion.recorded",
        "reward.created",
        "reward.approved",
    ]
    assert seen[1][1] == conversion


def test_guest_checkout_emits_referral_created(rewarding: refkit.ReferralProgram) -> None:
    seen: list[object] = []
    rewarding.on("referral.created", seen.append)
    rewarding.record_conversion("o1", "guest", 20, "EUR", code=rewarding.code_for("alice"))
    assert [r.referee_id for r in seen] == ["guest"]  # type: ignore[attr-defined]


def test_refund_emits_revoked_and_reversed(rewarding: refkit.ReferralProgram) -> None:
    seen: list[str] = []
    rewarding.on("reward.revoked", lambda r: seen.append("revoked"))
    rewarding.on("reward.reversed", lambda r: seen.append("reversed"))
    rewarding.attribute("bob", rewarding.code_for("alice"))
    rewarding.attribute("carol", rewarding.code_for("alice"))
    rewarding.record_conversion("o1", "bob", 20, "EUR")
    approved = rewarding.record_conversion("o2", "carol", 20, "EUR").rewards[0]
    rewarding.approve(approved.id)
    rewarding.refund("o1")
    rewarding.refund("o2")
    assert seen == ["revoked", "reversed"]


def test_failing_hook_is_logged_and_the_change_kept(
    rewarding: refkit.ReferralProgram, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(record: object) -> None:
        raise RuntimeError("mail server down")

    rewarding.on("reward.created", explode)
    rewarding.attribute("bob", rewarding.code_for("alice"))
    with caplog.at_level(logging.ERROR, logger="refkit"):
        conversion = rewarding.record_conversion("o1", "bob", 20, "EUR")
    assert conversion.rewards
    assert rewarding.conversion("o1") == conversion
    assert "reward.created" in caplog.text


def test_unknown_events_are_refused(rewarding: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.ConfigurationError):
        rewarding.on("reward.paid", print)
    with pytest.raises(refkit.ConfigurationError):
        rewarding.on("reward.created", "not callable")  # type: ignore[arg-type]
