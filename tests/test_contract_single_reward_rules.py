"""The single-reward rules (../shared/API.md), one by one, under concurrency too, and held by
the database itself.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import refkit

from .support.contract import (
    THREADS,
    Program,
    every_order_rules,
    race,
    refer,
)

# -- the single-reward rules ---------------------------------------------------------------


def test_rule_1_a_referee_is_bound_to_at_most_one_referrer_forever(every_order: Program) -> None:
    first = refer(every_order, "bob", "alice")
    with pytest.raises(refkit.AlreadyReferred):
        refer(every_order, "bob", "carol")
    conversion = every_order.record_conversion(
        "o1", "bob", "30", "EUR", code=every_order.code_for("carol")
    )
    assert conversion.referrer_id == "alice"
    assert refer(every_order, "bob", "alice") == first
    assert every_order.stats_for("carol").signups == 0


def test_rule_1_holds_when_threads_attribute_at_the_same_time(program: Program) -> None:
    codes = [program.code_for(f"referrer-{i}") for i in range(THREADS)]
    results = race(lambda i: program.attribute("bob", codes[i]))
    winners = [r for r in results if isinstance(r, refkit.Referral)]
    assert len(winners) == 1
    assert all(isinstance(r, refkit.AlreadyReferred) for r in results if r not in winners)
    assert sum(program.stats_for(f"referrer-{i}").signups for i in range(THREADS)) == 1


def test_rule_2_one_referrer_reward_and_one_referee_reward_per_referee_ever(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    earned = [every_order.record_conversion("o1", "bob", "30", "EUR")]
    every_order.refund("o1")  # a refunded reward does not free the slot
    earned += [every_order.record_conversion(f"o{i}", "bob", "30", "EUR") for i in range(2, 6)]
    roles = sorted(r.role for conversion in earned for r in conversion.rewards)
    assert roles == ["referee", "referrer"]


def test_rule_2_holds_when_threads_record_orders_at_the_same_time(every_order: Program) -> None:
    refer(every_order, "bob")
    results = race(lambda i: every_order.record_conversion(f"o{i}", "bob", "30", "EUR"))
    assert all(isinstance(r, refkit.Conversion) for r in results), results
    roles = sorted(r.role for conversion in results for r in conversion.rewards)
    assert roles == ["referee", "referrer"]
    assert every_order.stats_for("alice").conversions == THREADS


def test_rule_3_rewards_go_one_level_only(every_order: Program) -> None:
    refer(every_order, "b", "a")
    refer(every_order, "c", "b")
    conversion = every_order.record_conversion("o1", "c", "30", "EUR")
    assert {(r.beneficiary_id, r.role) for r in conversion.rewards} == {
        ("b", "referrer"),
        ("c", "referee"),
    }
    assert every_order.stats_for("a").rewards == {}


def test_rule_4_self_referral_raises_self_referral(program: Program) -> None:
    with pytest.raises(refkit.SelfReferral):
        refer(program, "alice", "alice")
    with pytest.raises(refkit.SelfReferral):
        program.attribute(7, program.code_for("7"))


def test_rule_4_a_cycle_raises_self_referral(program: Program) -> None:
    refer(program, "b", "a")
    with pytest.raises(refkit.SelfReferral):
        refer(program, "a", "b")
    refer(program, "c", "b")
    with pytest.raises(refkit.SelfReferral):
        refer(program, "a", "c")


def test_rule_4_a_long_cycle_raises_self_referral(program: Program) -> None:
    users = [f"u{i}" for i in range(70)]
    for referrer, referee in itertools.pairwise(users):
        refer(program, referee, referrer)
    with pytest.raises(refkit.SelfReferral):
        refer(program, users[0], users[-1])


def test_rule_4_cycles_are_refused_when_threads_attribute_at_the_same_time(
    program: Program,
) -> None:
    # a<-b, b<-c and c<-a at once: each passes a plain cycle check before the others commit
    cycles = 0
    for k in range(20):
        a, b, c = f"a{k}", f"b{k}", f"c{k}"
        edges = [(b, program.code_for(a)), (c, program.code_for(b)), (a, program.code_for(c))]
        results = race(lambda i, edges=edges: program.attribute(*edges[i % 3]))
        bound = {(r.referee_id, r.referrer_id) for r in results if isinstance(r, refkit.Referral)}
        assert all(isinstance(r, refkit.Referral | refkit.SelfReferral) for r in results)
        cycles += len(bound) == 3
    assert cycles == 0


def test_rule_4_nobody_is_rewarded_for_their_own_purchase_with_their_own_code(
    every_order: Program,
) -> None:
    # refkit's choice: a customer's own code at checkout is ignored (not raised), so the
    # purchase is still recorded; the reasons say why.
    conversion = every_order.record_conversion(
        "o1", "alice", "30", "EUR", code=every_order.code_for("alice")
    )
    assert (conversion.referrer_id, len(conversion.rewards)) == (None, 0)
    assert "self_referral" in conversion.reasons


def test_rule_5_max_rewards_per_referrer_is_never_exceeded(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(rules=every_order_rules(cap=2))
    for i in range(4):
        refer(program, f"r{i}")
        program.record_conversion(f"o{i}", f"r{i}", "30", "EUR")
    assert program.stats_for("alice").rewards["pending"] == Decimal("10.00")


def test_rule_5_caps_hold_under_concurrency(make_program: Callable[..., Program]) -> None:
    program = make_program(rules=every_order_rules(cap=2))
    for i in range(THREADS):
        refer(program, f"r{i}")
    results = race(lambda i: program.record_conversion(f"o{i}", f"r{i}", "30", "EUR"))
    assert all(isinstance(r, refkit.Conversion) for r in results), results
    paid = [r for c in results for r in c.rewards if r.role == "referrer"]
    assert len(paid) == 2
    assert sum("cap_reached" in c.reasons for c in results) == THREADS - 2


def _raw(program: Program, sql: str) -> None:
    with program.store.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text(sql), {"at": datetime(2026, 3, 1, tzinfo=UTC)})


def test_rule_6_the_database_itself_refuses_a_second_referrer_reward(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.record_conversion("o2", "bob", "30", "EUR")
    with pytest.raises(IntegrityError):
        _raw(
            every_order,
            "INSERT INTO refkit_rewards (order_id, referee_id, referrer_id, beneficiary_id, "
            "role, kind, value_minor, original_minor, currency, status, created_at, due_at) "
            "VALUES ('o2', 'bob', 'alice', 'alice', 'referrer', 'fixed', 500, 500, 'EUR', "
            "'pending', :at, :at)",
        )


def test_rule_6_the_database_itself_refuses_a_second_referrer(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.code_for("carol")
    with pytest.raises(IntegrityError):
        _raw(
            every_order,
            "INSERT INTO refkit_referrals (referee_id, referrer_id, source, pair_low, "
            "pair_high, created_at) VALUES ('bob', 'carol', 'link', 'bob', 'carol', :at)",
        )
