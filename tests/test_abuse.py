"""Abuse protections: self-referral by email, review flags, fraud signals kept as hashes only.

Every storage-backed test runs on memory, SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

import refkit
from refkit.privacy import Pepper, is_disposable, normalize_email, normalize_ip
from refkit.storage.schema import identities, signals

from .support.settings import SECRET

MakeProgram = Callable[..., refkit.ReferralProgram]
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    referee_reward=refkit.Reward.points(100),
    hold_period=timedelta(days=14),
)


def _rows(program: refkit.ReferralProgram, table: object) -> list[object]:
    store = program.store
    assert isinstance(store, refkit.SqlStore)
    with store.engine.connect() as connection:
        return list(connection.execute(select(table)).all())  # type: ignore[call-overload]


# -- normalized emails -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "normalized"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("alice+shop@example.com", "alice@example.com"),
        ("a.li.ce@example.com", "a.li.ce@example.com"),  # dots matter outside Gmail
        ("A.Li.Ce+promo@gmail.com", "alice@gmail.com"),
        ("al.ice@googlemail.com", "alice@gmail.com"),
        ("  bob@Example.org.  ", "bob@example.org"),
    ],
)
def test_emails_are_compared_in_a_normalized_form(given: str, normalized: str) -> None:
    assert normalize_email(given) == normalized


@pytest.mark.parametrize("bad", ["", "alice", "@example.com", "alice@", "+x@gmail.com", 42])
def test_a_non_email_is_refused(bad: object) -> None:
    with pytest.raises(refkit.ValidationError):
        normalize_email(bad)


def test_disposable_domains_come_from_the_maintained_list() -> None:
    assert is_disposable("someone@mailinator.com")
    assert is_disposable("someone@eu.mailinator.com")  # a subdomain of a listed domain
    assert not is_disposable("someone@gmail.com")


def test_the_pepper_is_a_keyed_hash_under_a_derived_key() -> None:
    pepper, other = Pepper(SECRET), Pepper("another-secret-key-0123456789abcdefghij")
    assert pepper.hash("email", "a@b.c") == Pepper(SECRET).hash("email", "a@b.c")
    assert pepper.hash("email", "a@b.c") != other.hash("email", "a@b.c")
    assert pepper.hash("email", "a@b.c") != pepper.hash("ip", "a@b.c")
    rotated = Pepper(["new-secret-key-0123456789abcdefghijklmno", SECRET])
    assert pepper.hash("user", "u") in rotated.all_hashes("user", "u")


def test_ipv6_addresses_are_reduced_to_their_network() -> None:
    assert normalize_ip("2001:db8::1") == normalize_ip("2001:db8::ffff") == "2001:db8::/64"
    assert normalize_ip("::ffff:1.2.3.4") == "1.2.3.4"
    assert normalize_ip(" 10.0.0.1 ") == "10.0.0.1"


# -- self-referral by email --------------------------------------------------------------------


def test_the_same_normalized_email_is_a_self_referral(make_program: MakeProgram) -> None:
    program = make_program(RULES)
    code = program.code_for("alice")
    program.identify("alice", email="Alice.Smith@gmail.com")
    program.identify("alias", email="alicesmith+again@googlemail.com")
    with pytest.raises(refkit.SelfReferral, match="same email"):
        program.attribute("alias", code)
    assert program.referral_for("alias") is None


def test_the_email_shortcut_on_attribute_identifies_first(make_program: MakeProgram) -> None:
    program = make_program(RULES)
    code = program.code_for("alice")
    program.identify("alice", email="alice@example.com")
    with pytest.raises(refkit.SelfReferral):
        program.attribute("alias", code, email="ALICE+x@example.com")
    # a different person is fine
    assert program.attribute("bob", code, email="bob@example.com").referrer_id == "alice"


def test_a_typed_code_of_the_same_email_earns_nothing(make_program: MakeProgram) -> None:
    program = make_program(RULES)
    code = program.code_for("alice")
    program.identify("alice", email="alice@example.com")
    conversion = program.record_conversion(
        "o1", "guest-1", "30", "EUR", code=code, email="alice+guest@example.com"
    )
    assert conversion.rewards == ()
    assert "self_referral" in conversion.reasons
    assert program.referral_for("guest-1") is None


def test_identified_as_one_person_after_the_binding_earns_nothing(
    make_program: MakeProgram,
) -> None:
    program = make_program(RULES)
    program.attribute("alias", program.code_for("alice"))
    program.identify("alice", email="alice@example.com")
    program.identify("alias", email="Alice@Example.com")
    conversion = program.record_conversion("o1", "alias", "30", "EUR")
    assert conversion.rewards == ()
    assert conversion.reasons == ("self_referral",)


def test_only_a_keyed_hash_of_the_email_is_stored(make_program: MakeProgram) -> None:
    program = make_program()
    program.identify("alice", email="Alice@Example.com")
    (row,) = _rows(program, identities)
    assert "alice" not in row.email_hash.lower()  # type: ignore[attr-defined]
    assert row.email_hash == Pepper(SECRET).hash("email", "alice@example.com")  # type: ignore[attr-defined]


# -- flags -------------------------------------------------------------------------------------


def _referred(
    program: refkit.ReferralProgram,
    clock: refkit.FrozenClock,
    *,
    click: tuple[str, str] | None = ("203.0.113.7", "Firefox"),
    signup: tuple[str, str] | None = ("198.51.100.9", "Safari"),
    email: str | None = None,
) -> refkit.Referral:
    code = program.code_for("alice")
    clicked = program.fingerprint(ip=click[0], user_agent=click[1], at=clock()) if click else None
    signed = program.fingerprint(ip=signup[0], user_agent=signup[1]) if signup else None
    return program.attribute("bob", code, click=clicked, signup=signed, email=email)


def test_same_ip_and_user_agent_at_click_and_signup_flags(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock, click=("203.0.113.7", "Firefox"), signup=("203.0.113.7", "Firefox"))
    (flagged,) = program.flagged_referrals()
    assert (flagged.referee_id, flagged.referrer_id) == ("bob", "alice")
    assert flagged.reasons == ("same_device",)
    assert program.stats_for("alice").flagged == 1


@pytest.mark.parametrize(
    ("click", "signup"),
    [
        (("203.0.113.7", "Firefox"), ("203.0.113.7", "Safari")),  # same IP, other browser
        (("203.0.113.7", "Firefox"), ("198.51.100.9", "Firefox")),  # same browser, other IP
        (None, ("203.0.113.7", "Firefox")),  # no click signals
    ],
)
def test_different_devices_do_not_flag(
    make_program: MakeProgram,
    clock: refkit.FrozenClock,
    click: tuple[str, str] | None,
    signup: tuple[str, str],
) -> None:
    program = make_program(RULES)
    _referred(program, clock, click=click, signup=signup)
    assert program.flagged_referrals() == []
    assert program.stats_for("alice").flagged == 0


def test_a_disposable_email_flags(make_program: MakeProgram, clock: refkit.FrozenClock) -> None:
    program = make_program(RULES)
    _referred(program, clock, email="bob@mailinator.com")
    assert [f.reasons for f in program.flagged_referrals()] == [("disposable_email",)]


def test_a_disposable_email_registered_after_the_binding_flags(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock)
    assert program.flagged_referrals() == []
    program.identify("bob", email="bob@mailinator.com")
    assert [f.reasons for f in program.flagged_referrals()] == [("disposable_email",)]


def test_a_purchase_right_after_the_click_flags(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock)
    clock.advance(seconds=30)
    program.record_conversion("o1", "bob", "30", "EUR")
    assert [f.reasons for f in program.flagged_referrals()] == [("fast_purchase",)]


def test_a_purchase_after_the_window_does_not_flag(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES, fast_purchase=timedelta(seconds=10))
    _referred(program, clock)
    clock.advance(seconds=30)
    program.record_conversion("o1", "bob", "30", "EUR")
    assert program.flagged_referrals() == []


def test_flagged_rewards_wait_for_a_person(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock, email="bob@mailinator.com")
    clock.advance(hours=1)
    rewards = program.record_conversion("o1", "bob", "30", "EUR").rewards
    assert len(rewards) == 2
    clock.advance(days=15)
    assert program.approve_due() == []  # past the hold period, but flagged
    assert program.clear_flags("bob") == 1
    assert program.flagged_referrals() == []
    assert program.stats_for("alice").flagged == 0
    assert {r.id for r in program.approve_due()} == {r.id for r in rewards}


def test_a_flagged_reward_can_still_be_approved_by_hand(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock, email="bob@mailinator.com")
    reward = program.record_conversion("o1", "bob", "30", "EUR").rewards[0]
    approved = program.approve(reward.id)
    assert approved is not None
    assert approved.status == "approved"


def test_a_cleared_flag_is_not_raised_again(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock, email="bob@mailinator.com")
    program.clear_flags("bob")
    program.identify("bob", email="bob2@mailinator.com")
    assert program.flagged_referrals() == []


def test_unflagged_rewards_are_approved_as_before(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock)
    clock.advance(days=1)
    program.record_conversion("o1", "bob", "30", "EUR")
    clock.advance(days=15)
    assert len(program.approve_due()) == 2


# -- the signals themselves ---------------------------------------------------------------------


def test_signals_are_stored_as_keyed_hashes_only(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock, click=("203.0.113.7", "Firefox/128"), signup=("2001:db8::1", "X"))
    (row,) = _rows(program, signals)
    stored = " ".join(str(value) for value in row)  # type: ignore[attr-defined]
    for raw in ("203.0.113", "Firefox", "2001:db8"):
        assert raw not in stored
    pepper = Pepper(SECRET)
    assert row.click_ip == pepper.hash("ip", "203.0.113.7")  # type: ignore[attr-defined]
    assert row.signup_ip == pepper.hash("ip", "2001:db8::/64")  # type: ignore[attr-defined]


def test_signals_are_purged_after_the_retention_window(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _referred(program, clock)
    clock.advance(days=29)
    assert program.purge_signals() == 0
    assert len(_rows(program, signals)) == 1
    clock.advance(days=2)
    assert program.purge_signals() == 1
    assert _rows(program, signals) == []
    # without the click's time, a later purchase can no longer look fast, and nothing breaks
    program.record_conversion("o1", "bob", "30", "EUR")
    assert program.flagged_referrals() == []


def test_purge_takes_an_explicit_window(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES, signal_retention=timedelta(days=7))
    _referred(program, clock)
    clock.advance(days=3)
    assert program.purge_signals(older_than=timedelta(days=1)) == 1


def test_bad_abuse_settings_are_refused() -> None:
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(SECRET, "memory://", fast_purchase=timedelta(seconds=-1))
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(SECRET, "memory://", signal_retention=None)  # type: ignore[arg-type]
