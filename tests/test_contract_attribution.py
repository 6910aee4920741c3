"""Attribution (../shared/API.md, Core): ``attribute``, its sources and its refusals.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import refkit

from .support.contract import (
    Program,
    refer,
)

# -- attribute -----------------------------------------------------------------------------


def test_attribute_returns_the_referral_binding_the_referee(
    program: Program, clock: refkit.FrozenClock
) -> None:
    at = clock() - timedelta(hours=1)
    referral = program.attribute("bob", program.code_for("alice"), at=at)
    assert isinstance(referral, refkit.Referral)
    assert (referral.referee_id, referral.referrer_id, referral.source, referral.created_at) == (
        "bob",
        "alice",
        "link",
        at,
    )
    assert program.stats_for("alice").signups == 1


def test_second_attribute_naming_the_same_referrer_returns_the_existing_referral(
    program: Program, clock: refkit.FrozenClock
) -> None:
    first = refer(program, "bob")
    clock.advance(days=1)
    again = program.attribute("bob", program.code_for("alice"), source="staff")
    assert again == first
    assert program.stats_for("alice").signups == 1


def test_second_attribute_naming_another_referrer_raises_already_referred(
    program: Program,
) -> None:
    first = refer(program, "bob")
    with pytest.raises(refkit.AlreadyReferred):
        refer(program, "bob", "carol")
    assert refer(program, "bob") == first  # the first binding never changed
    assert program.stats_for("carol").signups == 0


def test_attribute_self_referral_raises_self_referral(program: Program) -> None:
    with pytest.raises(refkit.SelfReferral):
        refer(program, "alice", "alice")
    assert program.stats_for("alice").signups == 0


@pytest.mark.parametrize("source", ["link", "code", "staff"])
def test_attribute_source_is_link_code_or_staff(program: Program, source: str) -> None:
    referral = program.attribute("bob", program.code_for("alice"), source=source)  # type: ignore[arg-type]
    assert referral.source == source


@pytest.mark.parametrize("source", ["email", "", None, "LINK"])
def test_attribute_refuses_other_sources(program: Program, source: object) -> None:
    with pytest.raises(refkit.ValidationError):
        program.attribute("bob", program.code_for("alice"), source=source)  # type: ignore[arg-type]
    assert program.stats_for("alice").signups == 0


def test_attribute_with_an_invalid_code_raises_invalid_code(program: Program) -> None:
    with pytest.raises(refkit.InvalidCode):
        program.attribute("bob", "NOT-A-CODE")
