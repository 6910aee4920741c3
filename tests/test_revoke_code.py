"""Withdrawing a leaked code: ``revoke_code`` gives a new code, the old one stops resolving
with ``reason == "revoked"``, and referrals already made stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

import refkit
from refkit import Reward, RewardRules
from refkit.program import CODE_CACHE_TTL

MakeProgram = Callable[..., refkit.ReferralProgram]


def test_the_old_code_stops_resolving_and_the_new_one_works(
    program: refkit.ReferralProgram,
) -> None:
    old = program.code_for("alice")
    program.attribute("bob", old)
    new = program.revoke_code("alice")
    assert new != old
    assert program.code_for("alice") == new
    assert program.resolve(new) == "alice"
    for call in (
        lambda: program.resolve(old),
        lambda: program.record_visit(old),
        lambda: program.attribute("carol", old),
    ):
        with pytest.raises(refkit.InvalidCode) as raised:
            call()
        assert raised.value.reason == "revoked"
    assert program.referral_for("carol") is None
    assert program.referral_for("bob").referrer_id == "alice"  # type: ignore[union-attr]
    program.attribute("carol", new)
    assert program.stats_for("alice").signups == 2


def test_referrals_made_before_keep_earning(make_program: MakeProgram) -> None:
    program = make_program(RewardRules(referrer_reward=Reward.percent(10)))
    program.attribute("bob", program.code_for("alice"))
    program.revoke_code("alice")
    conversion = program.record_conversion("o1", "bob", 100, "EUR")
    assert [reward.beneficiary_id for reward in conversion.rewards] == ["alice"]


def test_a_guest_checkout_with_a_revoked_code_is_refused(program: refkit.ReferralProgram) -> None:
    old = program.code_for("alice")
    program.revoke_code("alice")
    with pytest.raises(refkit.InvalidCode):
        program.record_conversion("o1", "bob", 100, "EUR", code=old)
    assert program.conversion("o1") is None


def test_revoking_twice_revokes_both_codes(program: refkit.ReferralProgram) -> None:
    first = program.code_for("alice")
    second = program.revoke_code("alice")
    third = program.revoke_code("alice")
    assert len({first, second, third}) == 3
    for code in (first, second):
        with pytest.raises(refkit.InvalidCode):
            program.resolve(code)
    assert program.resolve(third) == "alice"


def test_a_user_without_a_code_gets_one(program: refkit.ReferralProgram) -> None:
    code = program.revoke_code("newcomer")
    assert program.resolve(code) == "newcomer"


def test_another_process_sees_the_revocation_within_the_cache_ttl(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    here, elsewhere = make_program(), make_program()
    old = here.code_for("alice")
    assert elsewhere.resolve(old) == "alice"  # cached there
    new = here.revoke_code("alice")
    with pytest.raises(refkit.InvalidCode):
        here.resolve(old)
    clock.advance(CODE_CACHE_TTL + timedelta(seconds=1))
    with pytest.raises(refkit.InvalidCode) as raised:
        elsewhere.resolve(old)
    assert raised.value.reason == "revoked"
    assert elsewhere.code_for("alice") == new


def test_verify_is_offline_and_cannot_know(program: refkit.ReferralProgram) -> None:
    old = program.code_for("alice")
    program.revoke_code("alice")
    assert program.verify(old) == old  # documented: resolve() knows, verify() cannot


def test_a_revoked_number_is_never_given_again(program: refkit.ReferralProgram) -> None:
    from refkit.steps import referrers

    old = program.code_for("alice")
    number = program._codec.parse(old).number
    program.revoke_code("alice")
    taken = program.store.transaction(
        lambda c: referrers.assign_number(
            c, "mallory", iter([number, number + 1]).__next__, program.clock()
        )
    )
    assert taken == number + 1
