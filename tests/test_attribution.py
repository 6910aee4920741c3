"""Visits and referrals: first binding wins, no self-referral, no cycles."""

from __future__ import annotations

from datetime import timedelta

import pytest

import refkit

from .support.settings import SECRET


def test_record_visit_counts_for_the_referrer(program: refkit.ReferralProgram) -> None:
    code = program.code_for("alice")
    visit = program.record_visit(code, campaign="spring", visitor="v-1")
    assert (visit.referrer_id, visit.campaign, visit.visitor) == ("alice", "spring", "v-1")
    program.record_visit(code.lower())
    assert program.stats_for("alice").visits == 2


def test_record_visit_finds_an_uncached_referrer_in_the_store(make_program, clock) -> None:
    code = make_program().code_for("alice")
    fresh = make_program()  # another process: nothing cached
    visit = fresh.record_visit(code, campaign="spring", visitor="v-1")
    assert visit == refkit.Visit(visit.id, "alice", "spring", "v-1", clock())
    assert fresh.resolve(code) == "alice"  # and now it is cached
    assert fresh.record_visit(code).referrer_id == "alice"
    assert fresh.stats_for("alice").visits == 2


def test_record_visit_refuses_a_valid_code_nobody_holds(make_program) -> None:
    program = make_program()
    program.code_for("alice")
    unknown = refkit.CodeCodec(SECRET).encode(12345)
    with pytest.raises(refkit.InvalidCode) as caught:
        make_program().record_visit(unknown)
    assert caught.value.reason == "unknown_referrer"
    assert program.summary().visits == 0


def test_record_visit_refuses_invalid_codes(program: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.InvalidCode):
        program.record_visit("NOT-A-CODE")
    assert program.summary().visits == 0


def test_attribute_binds_referee(program: refkit.ReferralProgram, clock) -> None:
    referral = program.attribute("bob", program.code_for("alice"))
    assert referral == refkit.Referral("bob", "alice", "link", clock())
    assert program.referral_for("bob") == referral
    assert program.referral_for("carol") is None


def test_attribute_again_with_the_same_referrer_returns_the_first(
    program: refkit.ReferralProgram, clock
) -> None:
    first = program.attribute("bob", program.code_for("alice"))
    clock.advance(days=1)
    assert program.attribute("bob", program.code_for("alice"), source="code") == first


def test_first_binding_wins(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    with pytest.raises(refkit.AlreadyReferred) as caught:
        program.attribute("bob", program.code_for("carol"))
    assert (caught.value.referrer_id, caught.value.attempted_referrer_id) == ("alice", "carol")
    assert program.referral_for("bob").referrer_id == "alice"  # type: ignore[union-attr]


def test_self_referral_is_refused(program: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.SelfReferral):
        program.attribute("alice", program.code_for("alice"))
    assert program.referral_for("alice") is None


def test_two_person_cycle_is_refused(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    with pytest.raises(refkit.SelfReferral):
        program.attribute("alice", program.code_for("bob"))
    assert program.referral_for("alice") is None


def test_longer_cycles_are_refused(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    program.attribute("carol", program.code_for("bob"))
    with pytest.raises(refkit.SelfReferral):
        program.attribute("alice", program.code_for("carol"))


def test_referees_can_refer_others(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    assert program.attribute("carol", program.code_for("bob")).referrer_id == "bob"


@pytest.mark.parametrize("source", ["link", "code", "staff"])
def test_sources(program: refkit.ReferralProgram, source: str) -> None:
    assert program.attribute("bob", program.code_for("alice"), source=source).source == source  # type: ignore[arg-type]


def test_unknown_source_is_refused(program: refkit.ReferralProgram) -> None:
    with pytest.raises(refkit.ValidationError):
        program.attribute("bob", program.code_for("alice"), source="email")  # type: ignore[arg-type]
    assert program.referral_for("bob") is None


def test_naive_times_are_refused(program: refkit.ReferralProgram, clock) -> None:
    with pytest.raises(refkit.ValidationError):
        program.attribute("bob", program.code_for("alice"), at=clock().replace(tzinfo=None))
    assert program.referral_for("bob") is None


def test_explicit_times_are_kept_in_utc(program: refkit.ReferralProgram, clock) -> None:
    from datetime import timezone

    at = clock().astimezone(timezone(timedelta(hours=2)))
    referral = program.attribute("bob", program.code_for("alice"), at=at)
    assert referral.created_at == clock()
    assert referral.created_at.utcoffset() == timedelta(0)


def test_attribute_keeps_campaign(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"), campaign="newsletter")
    assert program.referral_for("bob").campaign == "newsletter"  # type: ignore[union-attr]
