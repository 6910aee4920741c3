"""``first_purchase_only`` follows the orders' ``at`` (issue 13 finding 9): an order dated
before one whose rewards are still pending takes them over; approved rewards stay; the
database keeps one reward per role per referee (UNIQUE referee, role, slot, revision 0009).

Every test runs on every store (memory, an SQLite file, PostgreSQL). The race with 32 threads
is in ``tests/test_concurrency.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import refkit

MakeProgram = Callable[..., refkit.ReferralProgram]
DAY = timedelta(days=1)


def first_only(**extra: object) -> refkit.RewardRules:
    options: dict[str, object] = {
        "referrer_reward": refkit.Reward.percent(10),
        "referee_reward": refkit.Reward.fixed(Decimal("5"), "EUR"),
        "first_purchase_only": True,
        "min_order_amount": Decimal("20"),
        "hold_period": timedelta(days=14),
    }
    options.update(extra)
    return refkit.RewardRules(**options)  # type: ignore[arg-type]


def live(program: refkit.ReferralProgram) -> list[tuple[str, str, Decimal]]:
    return sorted(
        (r.order_id, r.role, r.value)
        for r in program.rewards(limit=100)
        if r.status not in ("revoked", "reversed")
    )


def statuses(program: refkit.ReferralProgram, order_id: str) -> dict[str, str]:
    return {r.role: r.status for r in program.rewards(limit=100) if r.order_id == order_id}


def pending_by_user(program: refkit.ReferralProgram) -> dict[str, Decimal]:
    total: dict[str, Decimal] = defaultdict(Decimal)
    for entry in program.ledger():
        total[entry.beneficiary_id] += entry.pending
    return dict(total)


@pytest.fixture
def bob_referred(make_program: MakeProgram, clock: refkit.FrozenClock) -> refkit.ReferralProgram:
    """bob referred by alice 10 days ago; his order ``late`` dated today is recorded and
    rewarded (the first purchase known)."""
    program = make_program(first_only())
    program.attribute("bob", program.code_for("alice"), at=clock() - 10 * DAY)
    late = program.record_conversion("late", "bob", "100", "EUR", at=clock())
    assert sorted(r.role for r in late.rewards) == ["referee", "referrer"]
    return program


def test_the_earlier_order_takes_over_and_the_ledger_follows(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    program = bob_referred
    early = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert early.reasons == ("referrer_rewarded", "referee_rewarded")
    assert live(program) == [
        ("early", "referee", Decimal("5.00")),
        ("early", "referrer", Decimal("8.00")),
    ]
    assert statuses(program, "late") == {"referrer": "revoked", "referee": "revoked"}
    # the pending balances hold the new rewards only; the revocation is dated when it happened
    assert pending_by_user(program) == {"alice": Decimal("8.00"), "bob": Decimal("5.00")}
    revocations = [e for e in program.ledger() if e.kind == "revoked"]
    assert sorted(e.pending for e in revocations) == [Decimal("-10.00"), Decimal("-5.00")]
    assert {e.created_at for e in revocations} == {clock()}
    # the new rewards are due after their own order's hold period
    assert {r.due_at for r in early.rewards} == {clock() - 5 * DAY + timedelta(days=14)}
    # and they are approved like any other (the taken-over ones never are)
    approved = program.approve_due(clock() + 30 * DAY)
    assert sorted(r.order_id for r in approved) == ["early", "early"]
    assert statuses(program, "late") == {"referrer": "revoked", "referee": "revoked"}


def test_the_replay_of_the_earlier_order_changes_nothing(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    program = bob_referred
    first = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    before = program.rewards(limit=100), list(program.ledger())
    again = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert again == first
    assert (program.rewards(limit=100), list(program.ledger())) == before


def test_an_even_earlier_order_takes_over_again(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    program = bob_referred
    program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    earliest = program.record_conversion("earliest", "bob", "50", "EUR", at=clock() - 8 * DAY)
    assert sorted(r.role for r in earliest.rewards) == ["referee", "referrer"]
    assert [o for o, _, _ in live(program)] == ["earliest", "earliest"]
    assert statuses(program, "early") == {"referrer": "revoked", "referee": "revoked"}
    later = program.record_conversion("between", "bob", "90", "EUR", at=clock() - 6 * DAY)
    assert later.reasons == ("not_first_purchase",)
    assert [o for o, _, _ in live(program)] == ["earliest", "earliest"]


def test_an_approved_reward_stays_with_its_order(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    """Credit already approved (perhaps spent) is not taken back: the referrer's reward stays
    with the later order, the still pending referee reward moves."""
    program = bob_referred
    referrer_reward = next(r for r in program.rewards() if r.role == "referrer")
    assert program.approve(referrer_reward.id) is not None
    early = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert [r.role for r in early.rewards] == ["referee"]
    assert "already_rewarded" in early.reasons
    assert statuses(program, "late") == {"referrer": "approved", "referee": "revoked"}
    assert live(program) == [
        ("early", "referee", Decimal("5.00")),
        ("late", "referrer", Decimal("10.00")),
    ]


def test_a_refunded_reward_still_holds_its_role(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    """A reward revoked by a refund keeps the role (or refunds would loop): an earlier order
    recorded afterwards earns nothing."""
    program = bob_referred
    program.refund("late")
    early = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert early.rewards == ()
    assert early.reasons == ("already_rewarded",)
    assert live(program) == []


def test_an_earlier_order_that_does_not_qualify_still_ends_the_later_ones_claim(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    """Only the first purchase can earn: if it is too small, later orders earn nothing
    either (rules.rst), so the later order's pending rewards are revoked."""
    program = bob_referred
    small = program.record_conversion("small", "bob", "10", "EUR", at=clock() - 5 * DAY)
    assert small.reasons == ("below_min_order",)
    assert live(program) == []
    assert statuses(program, "late") == {"referrer": "revoked", "referee": "revoked"}


def test_without_first_purchase_only_the_rewards_stay_where_they_are(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    program = make_program(first_only(first_purchase_only=False))
    program.attribute("bob", program.code_for("alice"), at=clock() - 10 * DAY)
    program.record_conversion("late", "bob", "100", "EUR", at=clock())
    early = program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert early.rewards == ()
    assert early.reasons == ("already_rewarded",)
    assert [o for o, _, _ in live(program)] == ["late", "late"]


def test_the_referrers_cap_counts_the_reward_once(
    make_program: MakeProgram, clock: refkit.FrozenClock
) -> None:
    """Cap 2: bob's reward moving from one order to another still takes one slot; carol's
    takes the second, dave's is over the cap."""
    program = make_program(first_only(max_rewards_per_referrer=2))
    code = program.code_for("alice")
    for friend in ("bob", "carol", "dave"):
        program.attribute(friend, code, at=clock() - 10 * DAY)
    program.record_conversion("bob-late", "bob", "100", "EUR", at=clock())
    program.record_conversion("bob-early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    carol = program.record_conversion("carol-1", "carol", "100", "EUR", at=clock())
    assert "referrer_rewarded" in carol.reasons
    dave = program.record_conversion("dave-1", "dave", "100", "EUR", at=clock())
    assert "cap_reached" in dave.reasons
    referrer = sorted(o for o, role, _ in live(program) if role == "referrer")
    assert referrer == ["bob-early", "carol-1"]


def test_events_the_taken_over_rewards_are_revoked_then_the_new_ones_created(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    program = bob_referred
    seen: list[tuple[str, str, str]] = []
    for name in ("conversion.recorded", "reward.created", "reward.revoked"):
        program.on(name, lambda record, name=name: seen.append((name, *_what(record))))
    program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert seen == [
        ("conversion.recorded", "early", ""),
        ("reward.revoked", "late", "referrer"),
        ("reward.revoked", "late", "referee"),
        ("reward.created", "early", "referrer"),
        ("reward.created", "early", "referee"),
    ]
    seen.clear()
    program.record_conversion("early", "bob", "80", "EUR", at=clock() - 5 * DAY)
    assert seen == []  # a replay fires nothing


def _what(record: object) -> tuple[str, str]:
    return getattr(record, "order_id", ""), getattr(record, "role", "")


def test_the_database_keeps_one_reward_per_role_in_slot_zero(
    bob_referred: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    """Hand-written statements cannot break the rule either: a second reward for bob's role
    in slot 0 is refused, and only a revoked reward may leave slot 0 (for its own id)."""
    program = bob_referred
    engine = program.store.engine  # type: ignore[attr-defined]
    copy = (
        "INSERT INTO refkit_rewards (order_id, referee_id, referrer_id, beneficiary_id, role, "
        "kind, value_minor, original_minor, currency, status, created_at, due_at, slot) "
        "SELECT order_id, referee_id, referrer_id, beneficiary_id, role, kind, value_minor, "
        "original_minor, currency, status, created_at, due_at, {slot} FROM refkit_rewards "
        "WHERE role = 'referee'"
    )
    for slot in ("0", "9999"):  # a second live reward; a pending one out of slot 0
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(text(copy.format(slot=slot)))
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE refkit_rewards SET slot = id + 1, status = 'revoked'"))
    assert len(live(program)) == 2
