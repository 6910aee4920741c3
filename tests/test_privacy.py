"""Erasure: ``program.erase(user_id)`` pseudonymizes a user everywhere and keeps the books.

Every test runs on memory, SQLite and PostgreSQL (the ``store`` fixture).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError

import refkit
from refkit.privacy import PSEUDONYM_PREFIX, Pepper
from refkit.storage.schema import identities, metadata, rewards, signals, visits

from .support.settings import SECRET

MakeProgram = Callable[..., refkit.ReferralProgram]
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)


def _engine(program: refkit.ReferralProgram) -> object:
    store = program.store
    assert isinstance(store, refkit.SqlStore)
    return store.engine


def _values_anywhere(program: refkit.ReferralProgram) -> set[str]:
    """Every string stored in every refkit table."""
    found: set[str] = set()
    with _engine(program).connect() as connection:  # type: ignore[attr-defined]
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String)]
            for row in connection.execute(select(*columns)) if columns else ():
                found.update(value for value in row if isinstance(value, str))
    return found


def _story(program: refkit.ReferralProgram, clock: refkit.FrozenClock) -> str:
    """alice refers bob (who buys twice) and carol; bob refers dave. Returns alice's code."""
    code = program.code_for("alice")
    program.record_visit(code, visitor="visitor-key-1")
    program.identify("alice", email="alice@example.com")
    click = program.fingerprint(ip="203.0.113.7", user_agent="Firefox", at=clock())
    program.attribute("bob", code, click=click, signup=click, email="bob@example.com")
    program.attribute("carol", code)
    program.attribute("dave", program.code_for("bob"))
    clock.advance(hours=1)
    program.record_conversion("o1", "bob", "100", "EUR")
    program.record_conversion("o2", "bob", "50", "EUR")
    program.record_conversion("o3", "carol", "40", "EUR")
    program.record_conversion("o4", "dave", "20", "EUR")
    return code


def _books(program: refkit.ReferralProgram) -> tuple[object, ...]:
    ledger = program.ledger()
    return (
        sum((e.pending for e in ledger), Decimal(0)),
        sum((e.approved for e in ledger), Decimal(0)),
        len(ledger),
        program.summary(),
        sorted((r.value, r.status, r.role) for r in program.rewards(limit=1000)),
    )


@pytest.mark.parametrize("erased", ["alice", "bob"])
def test_an_erased_user_id_is_gone_from_every_table(
    make_program: MakeProgram, clock: refkit.FrozenClock, erased: str
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    assert erased in _values_anywhere(program)
    pseudonym = program.erase(erased)
    assert pseudonym.startswith(PSEUDONYM_PREFIX)
    assert pseudonym == Pepper(SECRET).pseudonym(erased)
    stored = _values_anywhere(program)
    assert erased not in stored
    assert pseudonym in stored
    assert {"alice", "bob", "carol", "dave"} - {erased} <= stored


def test_erasing_keeps_totals_statements_and_stats(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    clock.advance(days=15)
    program.approve_due()
    books = _books(program)
    statement = program.ledger("alice")
    stats = program.stats_for("alice")
    pseudonym = program.erase("alice")
    program.erase("bob")
    assert _books(program) == books
    moved = program.ledger(pseudonym)
    assert [(e.kind, e.pending, e.approved) for e in moved] == [
        (e.kind, e.pending, e.approved) for e in statement
    ]
    after = program.stats_for(pseudonym)
    assert (after.signups, after.conversions, after.revenue, after.rewards) == (
        stats.signups,
        stats.conversions,
        stats.revenue,
        stats.rewards,
    )
    assert program.stats_for("alice").conversions == program.stats_for("alice").signups == 0


def test_keys_emails_and_signals_are_deleted(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    program.erase("alice")
    program.erase("bob")
    with _engine(program).connect() as connection:  # type: ignore[attr-defined]
        assert connection.execute(select(identities)).all() == []
        assert connection.execute(select(signals)).all() == []
        assert connection.execute(select(visits.c.visitor)).scalars().all() == [None]


def test_the_erased_users_code_stops_resolving(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    code = _story(program, clock)
    program.erase("alice")
    with pytest.raises(refkit.InvalidCode):
        program.resolve(code)
    # ... in another process too (no cache), and the number is not handed to someone else
    fresh = make_program(RULES)
    with pytest.raises(refkit.InvalidCode):
        fresh.resolve(code)
    with pytest.raises(refkit.InvalidCode):
        fresh.attribute("erin", code)
    assert fresh.code_for("alice") != code  # a returning alice gets a new code


def test_an_erased_referrers_code_records_no_visit_even_uncached(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    code = _story(program, clock)
    visits_before = program.summary().visits
    program.erase("alice")
    with pytest.raises(refkit.InvalidCode):
        make_program(RULES).record_visit(code)
    assert program.summary().visits == visits_before


def test_an_erased_user_is_found_under_any_of_many_keys(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    # The context statements check three pseudonyms at once; older keys take a second look.
    old = make_program(RULES, secret_key=[f"{SECRET}-old"])
    _story(old, clock)
    pseudonym = old.erase("bob")
    keys = [f"{SECRET}-{n}" for n in range(4)] + [f"{SECRET}-old"]
    rotated = make_program(RULES, secret_key=keys)
    again = rotated.record_conversion("o9", "bob", "500", "EUR")
    assert again.customer_id == pseudonym
    assert again.rewards == ()
    with pytest.raises(refkit.AlreadyReferred):
        rotated.attribute("bob", rotated.code_for("erin"))


def test_an_erased_referee_cannot_earn_a_second_reward(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    pseudonym = program.erase("bob")
    # bob comes back under the same id: still bound to alice, already rewarded
    referral = program.referral_for("bob")
    assert referral is not None
    assert referral.referee_id == pseudonym
    with pytest.raises(refkit.AlreadyReferred):
        program.attribute("bob", program.code_for("erin"))
    again = program.record_conversion("o5", "bob", "500", "EUR")
    assert again.rewards == ()
    assert "already_rewarded" in again.reasons
    # replaying one of bob's old orders is still idempotent, not a conflict
    assert program.record_conversion("o1", "bob", "100", "EUR").order_id == "o1"


def test_the_pseudonym_keeps_the_single_reward_constraint(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    pseudonym = program.erase("bob")
    # even written straight to the store, a second reward for the pseudonym is refused
    store = program.store
    assert isinstance(store, refkit.SqlStore)
    with store.engine.connect() as connection:
        row = connection.execute(
            select(rewards).where(rewards.c.referee_id == pseudonym, rewards.c.role == "referee")
        ).one()
    values = {k: v for k, v in row._mapping.items() if k != "id"}
    second = rewards.insert().values(**{**values, "order_id": "o2"})
    with store.engine.begin() as connection, pytest.raises(IntegrityError):
        connection.execute(second)


def test_erasing_twice_or_an_unknown_user_is_harmless(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    _story(program, clock)
    books = _books(program)
    first = program.erase("carol")
    assert program.erase("carol") == first
    assert program.erase(first) == first
    program.erase("nobody")
    assert _books(program) == books


def test_an_erased_referrer_earns_nothing_new_through_the_old_code(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(RULES)
    code = _story(program, clock)
    program.erase("alice")
    with pytest.raises(refkit.InvalidCode):
        program.record_conversion("o9", "frank", "80", "EUR", code=code)
    assert program.conversion("o9") is None


@pytest.mark.parametrize("erased", ["alice", "bob"])
def test_erasure_reaches_discount_claims_and_revoked_codes(
    make_program: MakeProgram, erased: str
) -> None:
    rules = refkit.RewardRules(referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"))
    program = make_program(rules)
    program.attribute("bob", program.code_for("alice"))
    program.revoke_code("alice")
    program.claim_discount("o1", "bob", 40, "EUR")
    program.record_conversion("o1", "bob", 35, "EUR")
    assert erased in _values_anywhere(program)
    pseudonym = program.erase(erased)
    stored = _values_anywhere(program)
    assert erased not in stored
    assert pseudonym in stored
