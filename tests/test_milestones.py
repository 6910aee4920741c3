"""Milestones (a bonus at a referrer's 2nd, 3rd... rewarded referral) and grants (rewards
given by hand), on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

import refkit
from refkit import Milestone, Reward

Make = Callable[..., refkit.ReferralProgram]
HOLD = timedelta(days=14)
TWO = Milestone(2, Reward.fixed(Decimal("20"), "EUR"))
THREE = Milestone(3, Reward.points(500))
RULES = refkit.RewardRules(
    referrer_reward=Reward.fixed(Decimal("5"), "EUR"), hold_period=HOLD, milestones=[THREE, TWO]
)


def refer(program: refkit.ReferralProgram, referrer: str, *referees: str) -> None:
    """Each referee signs up with the referrer's code and buys once."""
    for referee in referees:
        program.attribute(referee, program.code_for(referrer))
        program.record_conversion(f"order-{referee}", referee, "40", "EUR")


def bonuses(program: refkit.ReferralProgram, user: str) -> list[refkit.EarnedReward]:
    return sorted(
        (r for r in program.rewards(user_id=user) if r.milestone is not None),
        key=lambda r: r.milestone or 0,
    )


def recorder(program: refkit.ReferralProgram, *events: str) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for event in events:
        program.on(event, lambda record, event=event: seen.append((event, record)))
    return seen


# -- the rule --------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -1, True, 2.0, "5", None])
def test_a_milestone_needs_a_positive_int_count(count: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match="count"):
        Milestone(count, Reward.points(1))  # type: ignore[arg-type]


@pytest.mark.parametrize("reward", [Reward.percent(10), None, Decimal("5")])
def test_a_milestone_pays_a_fixed_amount_or_points(reward: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match=r"Reward\.fixed"):
        Milestone(3, reward)  # type: ignore[arg-type]


def test_rules_refuse_two_milestones_with_one_count() -> None:
    with pytest.raises(refkit.ConfigurationError, match="share the count 2"):
        refkit.RewardRules(milestones=[TWO, Milestone(2, Reward.points(5))])


@pytest.mark.parametrize("milestones", [TWO, [TWO, "3"], 5])
def test_rules_want_a_list_of_milestones(milestones: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match="list of Milestone"):
        refkit.RewardRules(milestones=milestones)  # type: ignore[arg-type]


def test_rules_keep_milestones_sorted_by_count() -> None:
    assert RULES.milestones == (TWO, THREE)
    assert refkit.RewardRules().milestones == ()


# -- paid where rewards are approved -----------------------------------------------------------


def test_approve_due_pays_each_milestone_reached_once(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    seen = recorder(program, "milestone.reached")
    refer(program, "alice", "bob", "carol", "dave")
    assert bonuses(program, "alice") == []  # pending rewards do not count

    clock.advance(HOLD)
    approved = program.approve_due()

    assert len(approved) == 3
    assert all(r.milestone is None for r in approved)
    two, three = bonuses(program, "alice")
    assert (two.milestone, two.role, two.status, two.kind) == (2, "referrer", "approved", "fixed")
    assert (two.value, two.currency, two.order_id, two.referee_id) == (
        Decimal("20.00"),
        "EUR",
        None,
        None,
    )
    assert (three.milestone, three.kind, three.value, three.currency) == (
        3,
        "points",
        Decimal(500),
        None,
    )
    assert [(event, r.milestone) for event, r in seen] == [
        ("milestone.reached", 2),
        ("milestone.reached", 3),
    ]
    assert program.balance("alice", "EUR") == Decimal("35.00")  # 3 x 5 + 20
    assert program.balance("alice", None) == 500
    stats = program.stats_for("alice")
    assert stats.rewards["approved"] == Decimal("35.00")
    assert stats.points["approved"] == 500
    assert [e.kind for e in program.ledger("alice") if e.reward_id == two.id] == [
        "accrued",
        "approved",
    ]

    refer(program, "alice", "erin")
    clock.advance(HOLD)
    program.approve_due()
    assert len(bonuses(program, "alice")) == 2
    assert len(seen) == 2


def test_approve_pays_the_milestone_its_approval_reaches(make_program: Make) -> None:
    program = make_program(rules=RULES)
    seen = recorder(program, "milestone.reached", "reward.approved")
    refer(program, "alice", "bob", "carol")
    first, second = (program.conversion(f"order-{u}").rewards[0] for u in ("bob", "carol"))  # type: ignore[union-attr]

    assert program.approve(first.id) is not None
    assert bonuses(program, "alice") == []
    assert program.approve(second.id) is not None
    assert program.approve(second.id) is None  # not pending any more: nothing again

    (bonus,) = bonuses(program, "alice")
    assert bonus.milestone == 2
    assert [(event, r.id) for event, r in seen] == [
        ("reward.approved", first.id),
        ("reward.approved", second.id),
        ("milestone.reached", bonus.id),
    ]


def test_a_refund_in_the_hold_period_never_counts(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob", "carol")
    program.refund("order-bob")  # the pending reward is revoked

    clock.advance(HOLD)
    program.approve_due()

    assert bonuses(program, "alice") == []
    stats = program.stats_for("alice")
    assert (stats.milestone_progress, stats.next_milestone) == (1, TWO)


def test_referrals_further_down_never_count(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob")
    refer(program, "bob", "carol", "dave")  # bob's own referees

    clock.advance(HOLD)
    program.approve_due()

    assert [b.milestone for b in bonuses(program, "bob")] == [2]
    assert bonuses(program, "alice") == []
    assert program.stats_for("alice").milestone_progress == 1
    assert program.stats_for("bob").milestone_progress == 2


def test_referee_rewards_do_not_count_toward_the_referees_milestones(
    make_program: Make, clock: Any
) -> None:
    rules = refkit.RewardRules(
        referrer_reward=Reward.fixed(Decimal("5"), "EUR"),
        referee_reward=Reward.fixed(Decimal("5"), "EUR"),
        milestones=[Milestone(1, Reward.points(10))],
    )
    program = make_program(rules=rules)
    refer(program, "alice", "bob")
    program.approve_due()

    assert [b.milestone for b in bonuses(program, "alice")] == [1]
    assert bonuses(program, "bob") == []  # bob's own reward is a referee's


def test_a_paid_milestone_stays_paid_after_a_refund(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob", "carol")
    clock.advance(HOLD)
    program.approve_due()
    (_bonus,) = bonuses(program, "alice")

    program.refund("order-bob")  # approved: reversed, the count drops to 1

    assert [b.status for b in bonuses(program, "alice")] == ["approved"]
    stats = program.stats_for("alice")
    assert (stats.milestone_progress, stats.milestones_reached) == (1, (2,))
    assert stats.next_milestone == THREE

    refer(program, "alice", "dave")  # back to 2, then 3
    clock.advance(HOLD)
    program.approve_due()
    assert [b.milestone for b in bonuses(program, "alice")] == [2]  # 2 is not paid twice
    refer(program, "alice", "erin")
    clock.advance(HOLD)
    program.approve_due()
    assert [b.milestone for b in bonuses(program, "alice")] == [2, 3]
    assert program.stats_for("alice").next_milestone is None


def test_stats_say_how_far_the_referrer_is(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    assert (
        program.stats_for("alice").milestone_progress,
        program.stats_for("alice").next_milestone,
    ) == (0, TWO)
    refer(program, "alice", "bob")
    assert program.stats_for("alice").milestone_progress == 0  # pending
    clock.advance(HOLD)
    program.approve_due()
    stats = program.stats_for("alice")
    assert (stats.milestone_progress, stats.next_milestone, stats.milestones_reached) == (
        1,
        TWO,
        (),
    )
    assert program.reports.stats_for("alice") == stats
    without = make_program(rules=refkit.RewardRules(referrer_reward=RULES.referrer_reward))
    assert without.stats_for("alice").next_milestone is None
    assert without.stats_for("alice").milestone_progress == 1


def test_a_milestone_added_later_is_paid_at_the_next_approval(
    make_program: Make, clock: Any
) -> None:
    plain = make_program(rules=refkit.RewardRules(referrer_reward=RULES.referrer_reward))
    refer(plain, "alice", "bob", "carol")
    plain.approve_due()
    program = make_program(rules=RULES)
    assert program.stats_for("alice").next_milestone == TWO
    refer(program, "alice", "dave")
    clock.advance(HOLD)
    program.approve_due()
    assert [b.milestone for b in bonuses(program, "alice")] == [2, 3]


def test_the_database_refuses_a_second_bonus_for_one_milestone(
    make_program: Make, clock: Any
) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob", "carol")
    clock.advance(HOLD)
    program.approve_due()
    (bonus,) = bonuses(program, "alice")
    engine = getattr(program.store, "engine", None)
    if engine is None:
        pytest.skip("a store without SQL tables")
    row = {
        "referrer_id": "alice",
        "beneficiary_id": "alice",
        "role": "referrer",
        "kind": "points",
        "value_minor": 1,
        "original_minor": 1,
        "status": "approved",
        "created_at": bonus.created_at.replace(tzinfo=None),
        "due_at": bonus.created_at.replace(tzinfo=None),
        "milestone": 2,
    }
    table = sa.table("refkit_rewards", *(sa.column(name) for name in row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(table).values(row))
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        # a bonus must be the referrer's own: one level
        connection.execute(
            sa.insert(table).values({**row, "milestone": 7, "beneficiary_id": "bob"})
        )


# -- grants --------------------------------------------------------------------------------------


def test_grant_gives_an_approved_reward_in_the_ledger(make_program: Make) -> None:
    program = make_program(rules=RULES)
    seen = recorder(program, "reward.granted")
    reward = program.grant(
        "alice", Reward.fixed(Decimal("7.50"), "EUR"), reference="prize-1", reason="contest"
    )

    assert (reward.role, reward.status, reward.kind, reward.value, reward.currency) == (
        "grant",
        "approved",
        "fixed",
        Decimal("7.50"),
        "EUR",
    )
    assert (reward.reference, reward.reason, reward.order_id, reward.milestone) == (
        "prize-1",
        "contest",
        None,
        None,
    )
    assert program.balance("alice", "EUR") == Decimal("7.50")
    assert program.stats_for("alice").rewards["approved"] == Decimal("7.50")
    assert program.rewards(user_id="alice") == [reward]
    assert [e.kind for e in program.ledger("alice")] == ["accrued", "approved"]
    assert seen == [("reward.granted", reward)]
    assert program.stats_for("alice").milestone_progress == 0  # a grant is no referral


def test_grant_is_idempotent_by_reference(make_program: Make) -> None:
    program = make_program()
    seen = recorder(program, "reward.granted")
    first = program.grant("alice", Reward.points(50), reference=7, reason="goodwill")
    again = program.grant("alice", Reward.points(50), reference="7", reason="other words")

    assert again == first
    assert again.reference == "7"
    assert program.balance("alice", None) == 50
    assert len(seen) == 1


@pytest.mark.parametrize(
    ("user", "reward"),
    [
        ("bob", Reward.points(50)),
        ("alice", Reward.points(51)),
        ("alice", Reward.fixed(Decimal("50"), "EUR")),
    ],
)
def test_grant_refuses_one_reference_for_another_grant(
    make_program: Make, user: str, reward: Reward
) -> None:
    program = make_program()
    program.grant("alice", Reward.points(50), reference="r-1", reason="goodwill")

    with pytest.raises(refkit.ConflictError, match="r-1"):
        program.grant(user, reward, reference="r-1", reason="goodwill")
    assert program.balance("bob", None) == 0
    assert program.balance("alice", "EUR") == 0
    assert program.balance("alice", None) == 50


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"reward": Reward.percent(10)}, r"Reward\.fixed"),
        ({"reward": Decimal("5")}, r"Reward\.fixed"),
        ({"user_id": ""}, "user_id"),
        ({"reference": ""}, "reference"),
        ({"reference": None}, "reference"),
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"reason": "x" * 256}, "reason"),
        ({"reason": "a\x00b"}, "reason"),
        ({"at": "2026-01-01"}, "at"),
    ],
)
def test_grant_refuses_bad_input_and_stores_nothing(
    make_program: Make, arguments: dict[str, Any], match: str
) -> None:
    program = make_program()
    call: dict[str, Any] = {
        "user_id": "alice",
        "reward": Reward.points(5),
        "reference": "g-1",
        "reason": "goodwill",
        **arguments,
    }
    with pytest.raises(refkit.ValidationError, match=match):
        program.grant(call.pop("user_id"), call.pop("reward"), **call)
    assert program.rewards() == []
    assert program.ledger() == []


def test_erasing_a_user_moves_their_bonuses_and_grants_to_the_pseudonym(
    make_program: Make, clock: Any
) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob", "carol")
    clock.advance(HOLD)
    program.approve_due()
    program.grant("alice", Reward.points(5), reference="g-alice", reason="goodwill")
    balance = program.balance("alice", "EUR")

    pseudonym = program.erase("alice")

    engine = getattr(program.store, "engine", None)
    if engine is not None:
        with engine.connect() as connection:
            ids = connection.execute(
                sa.text("SELECT referrer_id, beneficiary_id FROM refkit_rewards")
            ).all()
        assert "alice" not in {value for row in ids for value in row}
    assert [b.milestone for b in bonuses(program, pseudonym)] == [2]
    assert program.balance(pseudonym, "EUR") == balance
    assert program.balance(pseudonym, None) == 5
    assert program.stats_for(pseudonym).milestones_reached == (2,)


def test_bonuses_and_grants_cost_the_shop_in_the_summary(make_program: Make, clock: Any) -> None:
    program = make_program(rules=RULES)
    refer(program, "alice", "bob", "carol")
    clock.advance(HOLD)
    program.approve_due()
    program.grant("dora", Reward.fixed(Decimal("2.50"), "EUR"), reference="g", reason="sorry")
    summary = program.summary()
    assert summary.reward_cost == Decimal("32.50")  # 2 x 5 + the bonus of 20 + 2.50
    assert summary.reward_cost_by_currency == {"EUR": Decimal("32.50")}
