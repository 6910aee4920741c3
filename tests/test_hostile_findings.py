"""Issue 13's findings, reproduced through the public API: each test states the correct
behaviour and is expected to fail on today's code.

Each is marked ``xfail(strict=True)``: the suite stays green while the finding is open, and the
test fails ("XPASS(strict)") the moment the fix lands, so the fix must remove the marker.
The core tests run on every store (memory, an SQLite file, PostgreSQL) through the
``make_program``/``program``/``clock`` fixtures; the Flask one on the shop of
``tests/support/shop.py`` (an SQLite file).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient

import refkit

from .support.settings import SECRET
from .support.shop import code_of, cookie_payload, program_of

MakeProgram = Callable[..., refkit.ReferralProgram]
PSEUDONYM_PREFIX = "refkit-erased:"  # security.rst, "Erasure"
OLD_KEY = f"{SECRET}-old"
NEW_KEY = f"{SECRET}-new"
DOUBLE_SIDED = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)


def finding(number: int, what: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"issue 13 finding {number}: {what}")


def live(rewards: list[refkit.EarnedReward]) -> list[refkit.EarnedReward]:
    return [r for r in rewards if r.status not in ("revoked", "reversed")]


# -- 2: erase, code_for, erase -----------------------------------------------------------------


def test_a_user_erased_who_gets_a_code_again_can_be_erased_again(
    program: refkit.ReferralProgram,
) -> None:
    """After an erasure, ``code_for(A)`` gives A a fresh code (a returning referrer gets a new
    code, security.rst); erasing A again erases that code too, under the same pseudonym."""
    first_code = program.code_for("A")
    pseudonym = program.erase("A")
    fresh = program.code_for("A")
    assert fresh != first_code
    assert program.resolve(fresh) == "A"
    assert program.erase("A") == pseudonym
    for code in (first_code, fresh):
        with pytest.raises(refkit.InvalidCode):
            program.resolve(code)


# -- 7: key rotation keeps erasure -------------------------------------------------------------


def test_an_erased_referee_stays_erased_after_the_old_key_is_removed(
    make_program: MakeProgram,
) -> None:
    """The documented rotation: run ``rotate_keys()`` on a program holding [new, old] keys
    (it re-derives the erasure pseudonyms under the new key); then drop the old key. A program
    on [new] alone still recognises the erased referee: their orders are stored under a
    pseudonym, never their real id, they cannot be bound again, and nobody earns a second
    reward for them."""
    before = make_program(DOUBLE_SIDED, secret_key=[OLD_KEY])
    before.attribute("bob", before.code_for("alice"))
    assert before.record_conversion("o1", "bob", "100", "EUR").rewards
    before.erase("bob")

    both = make_program(DOUBLE_SIDED, secret_key=[NEW_KEY, OLD_KEY])
    assert both.rotate_keys() == 1  # the old key's pepper, wrapped under the new key

    after = make_program(DOUBLE_SIDED, secret_key=[NEW_KEY])
    referral = after.referral_for("bob")
    assert referral is not None
    assert referral.referee_id.startswith(PSEUDONYM_PREFIX)
    with pytest.raises(refkit.AlreadyReferred):
        after.attribute("bob", after.code_for("erin"))
    again = after.record_conversion("o2", "bob", "100", "EUR", code=after.code_for("erin"))
    assert again.customer_id.startswith(PSEUDONYM_PREFIX)
    assert again.rewards == ()
    assert after.stats_for("erin").signups == 0
    assert len(after.rewards(limit=100)) == 2  # o1's two rewards, nothing more


# -- 8: an existing customer is not a new one ---------------------------------------------------


def test_a_code_at_checkout_does_not_bind_a_customer_who_bought_before(
    make_program: MakeProgram,
) -> None:
    """A referral is for a new customer: a code given at the checkout of someone who already
    has a (non-referred) order binds nobody and earns nothing, with the reason
    ``"existing_customer"``."""
    program = make_program(DOUBLE_SIDED)
    program.record_conversion("o1", "cust", "50", "EUR")
    later = program.record_conversion("o2", "cust", "50", "EUR", code=program.code_for("alice"))
    assert later.referrer_id is None
    assert later.rewards == ()
    assert "existing_customer" in later.reasons
    assert program.referral_for("cust") is None
    assert program.stats_for("alice").signups == 0


def test_attribute_refuses_a_customer_who_bought_before(make_program: MakeProgram) -> None:
    """``attribute`` binds a new customer (API.md): for someone who already has an order it
    raises a :class:`refkit.RefkitError` naming the existing customer, and stores nothing."""
    program = make_program(DOUBLE_SIDED)
    program.record_conversion("o1", "cust", "50", "EUR")
    with pytest.raises(refkit.ExistingCustomer, match="cust") as raised:
        program.attribute("cust", program.code_for("alice"))
    assert "customer" in str(raised.value)
    assert program.referral_for("cust") is None
    assert program.stats_for("alice").signups == 0


# -- 9: the order of ``at``, not of recording ---------------------------------------------------

WINDOWED = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
    attribution_window=timedelta(days=30),
    hold_period=timedelta(days=14),
)


def test_a_conversion_dated_before_its_referral_is_outside_the_window(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    """The attribution window runs from the referral forward: an order dated 365 days before
    the referral (window 30 days) earns nothing, with the reason ``"outside_window"``."""
    program = make_program(WINDOWED)
    program.attribute("bob", program.code_for("alice"), at=clock())
    old = program.record_conversion("o1", "bob", "100", "EUR", at=clock() - timedelta(days=365))
    assert old.rewards == ()
    assert "outside_window" in old.reasons
    assert program.rewards(limit=100) == []


def test_first_purchase_only_follows_the_order_of_at(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    """bob is referred 10 days ago; his order dated today is recorded first (and rewarded, as
    the first purchase known), then an order dated 5 days ago arrives (a late webhook).

    Expected: the first purchase is the earliest by ``at``. The earlier order earns the
    rewards (neither ``"not_first_purchase"`` nor ``"already_rewarded"``); the later order's
    rewards, still pending, are revoked; bob's referral still earns one referrer reward and
    one referee reward in all (rule 2)."""
    program = make_program(WINDOWED)
    program.attribute("bob", program.code_for("alice"), at=clock() - timedelta(days=10))
    late = program.record_conversion("late", "bob", "100", "EUR", at=clock())
    assert late.rewards  # the first purchase known when it was recorded
    early = program.record_conversion("early", "bob", "80", "EUR", at=clock() - timedelta(days=5))
    assert "not_first_purchase" not in early.reasons
    assert sorted(r.role for r in early.rewards) == ["referee", "referrer"]
    rewards = program.rewards(limit=100)
    assert {r.status for r in rewards if r.order_id == "late"} == {"revoked"}
    assert sorted((r.order_id, r.role) for r in live(rewards)) == [
        ("early", "referee"),
        ("early", "referrer"),
    ]


# -- 11: Flask, a first-touch cookie of an erased referrer ---------------------------------------


def test_a_cookie_of_an_erased_referrer_gives_way_to_a_later_link(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    """First touch wins only while its code is valid: once alice is erased her code stops
    resolving, so bob's link replaces the cookie and the signup is bob's."""
    client.get(f"/r/{alice_code}")
    program_of(app).erase("alice")
    bob_code = code_of(app, "bob")
    client.get(f"/r/{bob_code}")
    assert cookie_payload(app, client)["code"] == bob_code  # type: ignore[index]
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": "bob"}


# -- 12: erasing a pseudonym; the cap of an erased referrer ---------------------------------------


def test_erasing_an_id_with_the_pseudonym_prefix_that_refkit_did_not_issue_is_refused(
    program: refkit.ReferralProgram,
) -> None:
    """Erasing a pseudonym refkit returned stays harmless (test_privacy.py); any other id with
    the reserved prefix cannot be erased, since refkit takes it for a pseudonym: ``erase``
    raises :class:`refkit.ValidationError` naming the prefix, instead of returning it as if
    done."""
    program.code_for("carol")
    with pytest.raises(refkit.ValidationError, match=PSEUDONYM_PREFIX):
        program.erase(PSEUDONYM_PREFIX + "0" * 32)


def test_an_erased_capped_referrer_who_returns_keeps_their_cap(make_program: MakeProgram) -> None:
    """``max_rewards_per_referrer`` counts every reward the person earned, those kept under
    their pseudonym included: alice reached her cap of 2, was erased and came back with a new
    code; her next referees' orders earn her nothing (``"cap_reached"``)."""
    capped = refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"), max_rewards_per_referrer=2
    )
    program = make_program(capped)
    for i in range(2):
        program.attribute(f"r{i}", program.code_for("alice"))
        assert program.record_conversion(f"o{i}", f"r{i}", "30", "EUR").rewards
    program.erase("alice")
    for i in range(2, 4):
        program.attribute(f"r{i}", program.code_for("alice"))
        conversion = program.record_conversion(f"o{i}", f"r{i}", "30", "EUR")
        assert conversion.rewards == ()
        assert "cap_reached" in conversion.reasons
