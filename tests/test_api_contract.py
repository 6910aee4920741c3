"""The public contract (../shared/API.md: Core, the single-reward rules, Errors), statement by
statement, as an acceptance checker would read it.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

import dataclasses
import itertools
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import refkit

from .conftest import SECRET

OTHER_SECRET = "another-secret-key-for-a-second-program-0123"
THREADS = 6

Program = refkit.ReferralProgram


def example_rules() -> refkit.RewardRules:
    """The rules of API.md's code block, verbatim."""
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=Decimal("20"),
        first_purchase_only=True,
        attribution_window=timedelta(days=30),
        hold_period=timedelta(days=14),
        max_rewards_per_referrer=None,
    )


def every_order_rules(cap: int | None = None) -> refkit.RewardRules:
    """Double-sided rules where every order qualifies: only the single-reward rules stop one."""
    return refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        max_rewards_per_referrer=cap,
    )


@pytest.fixture
def example(make_program: Callable[..., Program]) -> Program:
    return make_program(rules=example_rules())


@pytest.fixture
def every_order(make_program: Callable[..., Program]) -> Program:
    return make_program(rules=every_order_rules())


@pytest.fixture
def contract_program(tmp_path: Path) -> Iterator[Program]:
    """The constructor call of API.md, verbatim but for a real key and a temporary file."""
    program = refkit.ReferralProgram(
        secret_key=SECRET,
        store=f"sqlite:///{tmp_path / 'refkit.db'}",
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
            referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
            min_order_amount=Decimal("20"),
            first_purchase_only=True,
            attribution_window=timedelta(days=30),
            hold_period=timedelta(days=14),
            max_rewards_per_referrer=None,
        ),
    )
    yield program
    program.store.close()  # type: ignore[attr-defined]


def refer(program: Program, referee: str, referrer: str = "alice") -> refkit.Referral:
    return program.attribute(referee, program.code_for(referrer))


def race(work: Callable[[int], Any]) -> list[Any]:
    """Run ``work(i)`` in threads released together; return results (or the exceptions)."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        barrier.wait(30)
        try:
            results[index] = work(index)
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


# -- Core: `import refkit` ------------------------------------------------------------------


def test_import_refkit_imports_no_flask() -> None:
    code = "import sys, refkit; assert not any(m.split('.')[0] == 'flask' for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)  # noqa: S603
    for source in Path(refkit.__file__).parent.rglob("*.py"):
        for line in source.read_text().splitlines():
            assert not line.lstrip().startswith(("import flask", "from flask")), source


def test_the_constructor_of_the_contract_works_as_written(contract_program: Program) -> None:
    refer(contract_program, "bob")
    conversion = contract_program.record_conversion("o1", "bob", Decimal("120"), "EUR")
    assert [(r.role, r.value) for r in conversion.rewards] == [
        ("referrer", Decimal("12.00")),
        ("referee", Decimal("5.00")),
    ]


def test_secret_key_may_be_bytes(store: refkit.Store) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET.encode(), store=store)
    assert program.resolve(program.code_for("alice")) == "alice"


def test_secret_key_list_newest_first_rotates_keys(store: refkit.Store) -> None:
    old = refkit.ReferralProgram(secret_key=OTHER_SECRET, store=store)
    rotated = refkit.ReferralProgram(secret_key=[SECRET, OTHER_SECRET], store=store)
    old_code = old.code_for("alice")
    assert rotated.resolve(old_code) == "alice"
    assert rotated.code_for("alice") == refkit.ReferralProgram(
        secret_key=SECRET, store=store
    ).code_for("alice")


def test_store_defaults_to_an_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    program = refkit.ReferralProgram(secret_key=SECRET)
    program.code_for("alice")
    assert (tmp_path / "refkit.db").is_file()
    program.store.close()  # type: ignore[attr-defined]


def test_memory_store_on_request() -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store="memory://")
    assert program.resolve(program.code_for("alice")) == "alice"


def test_store_may_be_a_store_object(store: refkit.Store) -> None:
    assert refkit.ReferralProgram(secret_key=SECRET, store=store).store is store


# -- code_for ------------------------------------------------------------------------------


def test_code_for_is_a_str_and_the_same_every_time_for_the_same_user_and_key(
    make_program: Callable[..., Program],
) -> None:
    program = make_program()
    code = program.code_for("alice")
    assert isinstance(code, str)
    assert program.code_for("alice") == code
    assert make_program().code_for("alice") == code  # a new program, same key and store
    assert program.code_for("bob") != code


def test_any_user_can_be_a_referrer_referees_included(program: Program) -> None:
    refer(program, "bob", "alice")
    assert refer(program, "carol", "bob").referrer_id == "bob"


# -- link_for ------------------------------------------------------------------------------


def test_link_for_adds_the_code_and_campaign_keeping_existing_parameters(
    program: Program,
) -> None:
    url = "https://shop.example/p?q=a%20b&flag&x=1&x=2#top"
    link = program.link_for("alice", url, campaign="spring")
    parts = urlsplit(link)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == (
        "https",
        "shop.example",
        "/p",
        "top",
    )
    assert parts.query.startswith("q=a%20b&flag&x=1&x=2&")  # kept as written
    query = parse_qs(parts.query)
    assert query["ref"] == [program.code_for("alice")]
    assert query["campaign"] == ["spring"]


def test_link_for_without_campaign_adds_only_the_code(program: Program) -> None:
    link = program.link_for("alice", "https://shop.example/")
    assert parse_qs(urlsplit(link).query) == {"ref": [program.code_for("alice")]}


def test_a_link_code_resolves(program: Program) -> None:
    link = program.link_for(42, "https://shop.example/?a=1")
    assert program.resolve(parse_qs(urlsplit(link).query)["ref"][0]) == "42"


# -- resolve -------------------------------------------------------------------------------


def test_resolve_returns_the_referrers_user_id(program: Program) -> None:
    assert program.resolve(program.code_for("alice")) == "alice"


def test_resolve_accepts_any_case_separators_and_surrounding_spaces(program: Program) -> None:
    code = program.code_for("alice")
    spellings = [
        code.lower(),
        f"  {code}  ",
        f"{code}\n",
        f"{code[:4]}-{code[4:8]}-{code[8:]}",
        f" {code[:4]} {code[4:8]} {code[8:]} ".lower(),
    ]
    for spelling in spellings:
        assert program.resolve(spelling) == "alice", spelling


def test_resolve_raises_invalid_code_for_anything_this_program_did_not_issue(
    make_program: Callable[..., Program],
) -> None:
    program = make_program()
    code = program.code_for("alice")
    typo = code[:5] + ("A" if code[5] != "A" else "B") + code[6:]
    foreign = make_program(secret_key=OTHER_SECRET).code_for("alice")
    unissued = refkit.CodeCodec(SECRET).encode(4242)  # signed with our key, never issued
    for bad in ["", "   ", "nope", "ABCDEFGHJKMN", typo, foreign, unissued, None, 42, "x" * 1000]:
        with pytest.raises(refkit.InvalidCode):
            program.resolve(bad)


# -- record_visit --------------------------------------------------------------------------


def test_record_visit_returns_a_visit_record_counted_for_the_referrer(
    program: Program, clock: refkit.FrozenClock
) -> None:
    visit = program.record_visit(
        program.code_for("alice"), campaign="spring", visitor="v1", at=clock()
    )
    assert isinstance(visit, refkit.Visit)
    assert (visit.referrer_id, visit.campaign, visit.visitor, visit.created_at) == (
        "alice",
        "spring",
        "v1",
        clock(),
    )
    program.record_visit(program.code_for("alice"))
    assert program.stats_for("alice").visits == 2
    assert program.summary(campaign="spring").visits == 1


def test_record_visit_with_an_invalid_code_raises_invalid_code(program: Program) -> None:
    with pytest.raises(refkit.InvalidCode):
        program.record_visit("NOT-A-CODE")
    assert program.summary().visits == 0


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


# -- record_conversion ---------------------------------------------------------------------


def test_record_conversion_returns_the_conversion(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", Decimal("30.00"), "EUR")
    assert isinstance(conversion, refkit.Conversion)
    assert (conversion.order_id, conversion.customer_id, conversion.amount) == (
        "o1",
        "bob",
        Decimal("30.00"),
    )
    assert (conversion.currency, conversion.referrer_id, conversion.created_at) == (
        "EUR",
        "alice",
        clock(),
    )
    assert isinstance(conversion.reasons, Sequence)


def test_replaying_an_order_returns_the_stored_conversion_and_creates_nothing(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    created: list[object] = []
    every_order.on("reward.created", created.append)
    every_order.on("conversion.recorded", created.append)
    first = every_order.record_conversion("o1", "bob", Decimal("30"), "EUR")
    again = every_order.record_conversion("o1", "bob", Decimal("30"), "EUR")
    assert again == first
    assert len(again.rewards) == 2  # the rewards it created, still listed
    assert len(created) == 3  # one conversion and two rewards: nothing on the replay
    assert every_order.stats_for("alice").conversions == 1
    assert every_order.stats_for("alice").rewards["pending"] == Decimal("5.00")


def test_replay_with_the_same_values_spelled_differently_is_not_a_conflict(
    every_order: Program,
) -> None:
    first = every_order.record_conversion("o1", "bob", Decimal("30.00"), "EUR")
    assert every_order.record_conversion("o1", "bob", "30", "eur") == first
    assert every_order.record_conversion("o1", "bob", 30, "EUR") == first


@pytest.mark.parametrize(
    ("customer", "amount", "currency"),
    [("carol", "30", "EUR"), ("bob", "31", "EUR"), ("bob", "30", "USD")],
    ids=["customer", "amount", "currency"],
)
def test_same_order_id_with_other_details_raises_conflict_error(
    every_order: Program, customer: str, amount: str, currency: str
) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    with pytest.raises(refkit.ConflictError):
        every_order.record_conversion("o1", customer, amount, currency)
    assert every_order.stats_for("alice").conversions == 1


def test_code_at_checkout_binds_an_unbound_customer_first(every_order: Program) -> None:
    conversion = every_order.record_conversion(
        "o1", "guest", "30", "EUR", code=every_order.code_for("alice")
    )
    assert conversion.referrer_id == "alice"
    assert {r.beneficiary_id for r in conversion.rewards} == {"alice", "guest"}
    assert every_order.stats_for("alice").signups == 1
    with pytest.raises(refkit.AlreadyReferred):  # bound for good
        refer(every_order, "guest", "carol")


def test_code_at_checkout_does_not_rebind_a_bound_customer(every_order: Program) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion(
        "o1", "bob", "30", "EUR", code=every_order.code_for("carol")
    )
    assert conversion.referrer_id == "alice"
    assert every_order.stats_for("carol").signups == 0


def test_invalid_code_at_checkout_raises_invalid_code_and_stores_nothing(
    every_order: Program,
) -> None:
    with pytest.raises(refkit.InvalidCode):
        every_order.record_conversion("o1", "bob", "30", "EUR", code="NOT-A-CODE")
    assert every_order.record_conversion("o1", "carol", "99", "USD").customer_id == "carol"


def test_conversion_rewards_list_the_earned_rewards_and_are_empty_when_none(
    every_order: Program,
) -> None:
    refer(every_order, "bob")
    earned = every_order.record_conversion("o1", "bob", "30", "EUR").rewards
    assert isinstance(earned, Sequence)
    assert len(earned) == 2
    assert all(isinstance(reward, refkit.EarnedReward) for reward in earned)
    assert list(every_order.record_conversion("o2", "bob", "30", "EUR").rewards) == []
    assert len(every_order.record_conversion("o3", "dave", "30", "EUR").rewards) == 0


def test_conversion_referrer_id_is_none_when_not_referred(every_order: Program) -> None:
    assert every_order.record_conversion("o1", "dave", "30", "EUR").referrer_id is None


# -- refund --------------------------------------------------------------------------------


def test_full_refund_revokes_pending_rewards_and_returns_them(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    changed = every_order.refund("o1")
    assert isinstance(changed, list)
    assert sorted((r.role, r.status) for r in changed) == [
        ("referee", "revoked"),
        ("referrer", "revoked"),
    ]


def test_full_refund_reverses_approved_rewards(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.approve_due(now=clock())
    assert {r.status for r in every_order.refund("o1")} == {"reversed"}
    assert every_order.stats_for("alice").rewards["reversed"] == Decimal("5.00")
    assert every_order.stats_for("alice").rewards["approved"] == 0


def test_partial_refund_takes_an_amount_and_keeps_the_rewards(example: Program) -> None:
    # API.md does not say what a partial refund does to rewards: refkit lowers percent
    # rewards in proportion and leaves them pending; a full refund still revokes.
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("200.00"), "EUR")
    (changed,) = example.refund("o1", Decimal("50.00"))
    assert (changed.role, changed.status, changed.value) == ("referrer", "pending", Decimal("15"))
    assert {r.status for r in example.refund("o1", amount=Decimal("150.00"))} == {"revoked"}


def test_refund_never_deletes_history(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.refund("o1")
    replay = every_order.record_conversion("o1", "bob", "30", "EUR")
    assert {r.status for r in replay.rewards} == {"revoked"}
    assert every_order.stats_for("alice").conversions == 1
    assert every_order.stats_for("alice").rewards["revoked"] == Decimal("5.00")
    assert [entry.kind for entry in every_order.ledger("alice")] == ["accrued", "revoked"]


def test_refund_of_an_unrecorded_order_is_refused(every_order: Program) -> None:
    with pytest.raises(refkit.ValidationError, match="o404"):
        every_order.refund("o404")


# -- approve_due ---------------------------------------------------------------------------


def test_approve_due_approves_pending_rewards_whose_hold_period_has_passed(
    example: Program, clock: refkit.FrozenClock
) -> None:
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert example.approve_due(now=clock() + timedelta(days=13)) == []
    approved = example.approve_due(now=clock() + timedelta(days=14))
    assert isinstance(approved, list)
    assert sorted((r.role, r.status) for r in approved) == [
        ("referee", "approved"),
        ("referrer", "approved"),
    ]
    assert example.approve_due(now=clock() + timedelta(days=15)) == []


def test_approve_due_without_now_uses_the_current_time(
    example: Program, clock: refkit.FrozenClock
) -> None:
    refer(example, "bob")
    example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert example.approve_due() == []
    clock.advance(days=14)
    assert len(example.approve_due()) == 2


# -- stats_for, summary, leaderboard -------------------------------------------------------


def test_stats_for_has_visits_signups_conversions_revenue_and_reward_totals_by_status(
    every_order: Program,
) -> None:
    code = every_order.code_for("alice")
    every_order.record_visit(code)
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.record_conversion("o2", "bob", "12.50", "EUR")
    stats = every_order.stats_for("alice")
    assert isinstance(stats, refkit.ReferrerStats)
    assert (stats.visits, stats.signups, stats.conversions) == (1, 1, 2)
    assert stats.revenue == Decimal("42.50")
    assert stats.rewards["pending"] == Decimal("5.00")
    for status in ("approved", "revoked", "reversed"):  # no rewards in it yet: zero
        assert stats.rewards[status] == 0


def test_summary_is_the_program_wide_funnel(every_order: Program) -> None:
    every_order.record_visit(every_order.code_for("alice"))
    refer(every_order, "bob")
    refer(every_order, "carol")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    summary = every_order.summary()
    assert isinstance(summary, refkit.ProgramSummary)
    assert (summary.referrers, summary.visits, summary.signups, summary.conversions) == (
        1,
        1,
        2,
        1,
    )
    assert summary.revenue == Decimal("30.00")
    assert summary.reward_cost == Decimal("10.00")
    assert 0 < summary.conversion_rate <= 1
    assert summary.k_factor > 0


def test_summary_filters_by_period_and_campaign(
    program: Program, clock: refkit.FrozenClock
) -> None:
    code = program.code_for("alice")
    program.record_visit(code, campaign="spring")
    clock.advance(days=1)
    program.record_visit(code)
    assert program.summary(since=clock()).visits == 1
    assert program.summary(until=clock()).visits == 1
    assert program.summary(campaign="spring").visits == 1
    assert program.summary(None, None, "autumn").visits == 0


def test_leaderboard_ranks_referrers_by_conversions_or_revenue(program: Program) -> None:
    refer(program, "bob", "alice")
    refer(program, "carol", "alice")
    refer(program, "dave", "erin")
    program.record_conversion("o1", "bob", "10", "EUR")
    program.record_conversion("o2", "carol", "10", "EUR")
    program.record_conversion("o3", "dave", "500", "EUR")
    board = program.leaderboard()
    assert isinstance(board, list)
    assert [(e.referrer_id, e.conversions, e.revenue) for e in board] == [
        ("alice", 2, Decimal("20.00")),
        ("erin", 1, Decimal("500.00")),
    ]
    by_revenue = program.leaderboard(limit=1, by="revenue")
    assert [e.referrer_id for e in by_revenue] == ["erin"]


# -- on ------------------------------------------------------------------------------------


def test_hooks_are_called_after_the_change_is_stored(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    seen: list[str] = []
    stats = every_order.stats_for
    stored: dict[str, Callable[[], object]] = {
        "referral.created": lambda: stats("alice").signups,
        "conversion.recorded": lambda: stats("alice").conversions,
        "reward.created": lambda: stats("alice").rewards["pending"],
        "reward.approved": lambda: stats("alice").rewards["approved"],
        "reward.revoked": lambda: stats("alice").rewards["revoked"],
    }
    for event, check in stored.items():

        def callback(record: object, event: str = event, check: Any = check) -> None:
            assert check(), f"{event} called before the change was stored"
            seen.append(event)

        every_order.on(event, callback)
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    every_order.approve_due(now=clock())
    every_order.record_conversion("o2", "dave", "30", "EUR", code=every_order.code_for("alice"))
    every_order.refund("o2")
    assert seen == [
        "referral.created",
        "conversion.recorded",
        *["reward.created"] * 2,
        *["reward.approved"] * 2,
        "referral.created",
        "conversion.recorded",
        *["reward.created"] * 2,
        *["reward.revoked"] * 2,
    ]


def test_a_failing_callback_never_loses_or_undoes_the_stored_change(
    every_order: Program, clock: refkit.FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    def fail(record: object) -> None:
        raise RuntimeError("hook down")

    for event in (
        "referral.created",
        "conversion.recorded",
        "reward.created",
        "reward.approved",
        "reward.revoked",
    ):
        every_order.on(event, fail)
    refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", "30", "EUR")
    assert len(conversion.rewards) == 2
    every_order.approve_due(now=clock())
    every_order.record_conversion("o2", "dave", "30", "EUR", code=every_order.code_for("alice"))
    assert len(every_order.refund("o2")) == 2
    stats = every_order.stats_for("alice")
    assert (stats.signups, stats.conversions) == (2, 2)
    assert (stats.rewards["approved"], stats.rewards["revoked"]) == (Decimal(5), Decimal(5))
    assert "hook" in caplog.text


# -- records -------------------------------------------------------------------------------


RECORD_FIELDS = {
    refkit.Referral: {"referee_id", "referrer_id", "source", "created_at"},
    refkit.Conversion: {
        "order_id",
        "customer_id",
        "amount",
        "currency",
        "referrer_id",
        "rewards",
        "created_at",
        "reasons",
    },
    refkit.EarnedReward: {
        "beneficiary_id",
        "role",
        "kind",
        "value",
        "currency",
        "status",
        "order_id",
    },
    refkit.ReferrerStats: {"visits", "signups", "conversions", "revenue"},
    refkit.ProgramSummary: {
        "referrers",
        "visits",
        "signups",
        "conversions",
        "conversion_rate",
        "revenue",
        "reward_cost",
        "k_factor",
    },
    refkit.LeaderboardEntry: {"referrer_id", "conversions", "revenue"},
}


@pytest.mark.parametrize("record", list(RECORD_FIELDS), ids=lambda r: r.__name__)
def test_records_are_frozen_dataclasses_with_the_contract_fields(record: type) -> None:
    assert dataclasses.is_dataclass(record)
    assert record.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert RECORD_FIELDS[record] <= {f.name for f in dataclasses.fields(record)}


def test_returned_records_cannot_be_changed(every_order: Program) -> None:
    referral = refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", "30", "EUR")
    for record, name in [
        (referral, "referrer_id"),
        (conversion, "amount"),
        (conversion.rewards[0], "status"),
        (every_order.stats_for("alice"), "visits"),
        (every_order.summary(), "revenue"),
        (every_order.leaderboard()[0], "conversions"),
        (every_order.record_visit(every_order.code_for("alice")), "referrer_id"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(record, name, None)


def test_every_name_on_the_page_is_exported_from_refkit() -> None:
    for name in [
        "ReferralProgram", "RewardRules", "Reward", "Referral", "Conversion", "EarnedReward",
        "ReferrerStats", "ProgramSummary", "RefkitError", "InvalidCode", "SelfReferral",
        "AlreadyReferred", "ConflictError", "ValidationError", "StorageError",
        "ConfigurationError",
    ]:  # fmt: skip
        assert name in refkit.__all__
        assert getattr(refkit, name) is not None


# -- reasons: "why wasn't I rewarded?" -----------------------------------------------------


def _below_min_order(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    return program.record_conversion("o1", "bob", Decimal("19.99"), "EUR")


def _not_first_purchase(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    program.record_conversion("o1", "bob", Decimal("5"), "EUR")
    return program.record_conversion("o2", "bob", Decimal("100"), "EUR")


def _outside_window(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    refer(program, "bob")
    clock.advance(days=31)
    return program.record_conversion("o1", "bob", Decimal("100"), "EUR")


def _not_referred(program: Program, clock: refkit.FrozenClock) -> refkit.Conversion:
    return program.record_conversion("o1", "dave", Decimal("100"), "EUR")


@pytest.mark.parametrize(
    ("reason", "scenario"),
    [
        ("below_min_order", _below_min_order),
        ("not_first_purchase", _not_first_purchase),
        ("outside_window", _outside_window),
        ("not_referred", _not_referred),
    ],
)
def test_conversion_reasons_say_why_no_reward_was_earned(
    example: Program,
    clock: refkit.FrozenClock,
    reason: str,
    scenario: Callable[[Program, refkit.FrozenClock], refkit.Conversion],
) -> None:
    conversion = scenario(example, clock)
    assert reason in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_say_already_rewarded(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    conversion = every_order.record_conversion("o2", "bob", "30", "EUR")
    assert "already_rewarded" in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_say_cap_reached(make_program: Callable[..., Program]) -> None:
    program = make_program(
        rules=refkit.RewardRules(
            referrer_reward=refkit.Reward.points(100), max_rewards_per_referrer=1
        )
    )
    refer(program, "bob")
    refer(program, "carol")
    program.record_conversion("o1", "bob", "30", "EUR")
    conversion = program.record_conversion("o2", "carol", "30", "EUR")
    assert "cap_reached" in conversion.reasons
    assert len(conversion.rewards) == 0


def test_conversion_reasons_explain_a_reward_too(example: Program) -> None:
    refer(example, "bob")
    conversion = example.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert len(conversion.reasons) > 0


# -- user ids ------------------------------------------------------------------------------


def test_int_user_ids_are_accepted_and_turned_into_strings(every_order: Program) -> None:
    assert every_order.code_for(42) == every_order.code_for("42")
    assert every_order.resolve(every_order.code_for(42)) == "42"
    referral = every_order.attribute(7, every_order.code_for(42))
    assert (referral.referee_id, referral.referrer_id) == ("7", "42")
    conversion = every_order.record_conversion(1001, 7, "30", "EUR")
    assert (conversion.order_id, conversion.customer_id, conversion.referrer_id) == (
        "1001",
        "7",
        "42",
    )
    assert {r.beneficiary_id for r in conversion.rewards} == {"7", "42"}
    assert every_order.stats_for(42).signups == 1
    assert every_order.leaderboard()[0].referrer_id == "42"


@pytest.mark.parametrize(
    "user_id", ["a", "x" * 255, "é" * 255, "émile", "user@example.com", "a b", 0, 10**254]
)
def test_user_ids_of_1_to_255_characters_are_accepted(program: Program, user_id: object) -> None:
    assert program.resolve(program.code_for(user_id)) == str(user_id)  # type: ignore[arg-type]
    assert refer(program, user_id, "zed").referee_id == str(user_id)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "user_id",
    [
        "",
        "x" * 256,
        "a\x00b",
        "a\nb",
        "\t",
        "a\x7fb",
        "a\x85b",
        "a\ud800b",  # a lone surrogate: not text any database can store
        10**256,
        pytest.param(10**5000, id="int-of-5001-digits"),  # beyond Python's int-to-str limit
        None,
        1.5,
        True,
    ],
)
def test_user_ids_outside_1_to_255_characters_or_with_control_characters_are_refused(
    every_order: Program, user_id: object
) -> None:
    code = every_order.code_for("alice")
    calls: list[Callable[[], object]] = [
        lambda: every_order.code_for(user_id),  # type: ignore[arg-type]
        lambda: every_order.attribute(user_id, code),  # type: ignore[arg-type]
        lambda: every_order.record_conversion("o1", user_id, "30", "EUR"),  # type: ignore[arg-type]
        lambda: every_order.stats_for(user_id),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(refkit.ValidationError):
            call()
    summary = every_order.summary()
    assert (summary.referrers, summary.signups, summary.conversions) == (1, 0, 0)


# -- times ---------------------------------------------------------------------------------


def test_times_are_timezone_aware_datetimes(every_order: Program) -> None:
    paris = timezone(timedelta(hours=2))
    at = datetime(2026, 3, 1, 14, 0, tzinfo=paris)
    referral = every_order.attribute("bob", every_order.code_for("alice"), at=at)
    conversion = every_order.record_conversion("o1", "bob", "30", "EUR", at=at)
    visit = every_order.record_visit(every_order.code_for("alice"), at=at)
    for when in (referral.created_at, conversion.created_at, visit.created_at):
        assert when.tzinfo is not None
        assert when == at  # the same instant
    assert conversion.rewards[0].created_at.utcoffset() is not None


def test_naive_datetimes_are_refused_with_validation_error_and_store_nothing(
    every_order: Program, clock: refkit.FrozenClock
) -> None:
    naive = clock().replace(tzinfo=None)
    code = every_order.code_for("alice")
    calls: list[Callable[[], object]] = [
        lambda: every_order.record_visit(code, at=naive),
        lambda: every_order.attribute("bob", code, at=naive),
        lambda: every_order.record_conversion("o1", "bob", "30", "EUR", at=naive),
        lambda: every_order.approve_due(now=naive),
        lambda: every_order.summary(since=naive),
        lambda: every_order.summary(until=naive),
    ]
    for call in calls:
        with pytest.raises(refkit.ValidationError, match="naive"):
            call()
    summary = every_order.summary()
    assert (summary.visits, summary.signups, summary.conversions) == (0, 0, 0)


def test_a_clock_giving_naive_times_is_refused(make_program: Callable[..., Program]) -> None:
    program = make_program(clock=lambda: datetime(2026, 1, 1))
    with pytest.raises(refkit.ValidationError):
        program.record_conversion("o1", "bob", "30", "EUR")


# -- rewards: promises and earned rewards --------------------------------------------------


def test_reward_constructors_describe_the_promise() -> None:
    assert refkit.Reward.percent(10, cap=Decimal("50")).kind == "percent"
    assert refkit.Reward.fixed(Decimal("5"), "EUR").kind == "fixed"
    assert refkit.Reward.points(100).kind == "points"


def test_percent_reward_is_a_percentage_of_the_order_amount_in_the_orders_currency(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")))
    )
    for referee, amount, currency, value in [
        ("bob", "123.45", "usd", Decimal("12.34")),  # banker's rounding to the cent
        ("carol", "434", "JPY", Decimal("43")),  # whole yen
        ("dave", "10000", "EUR", Decimal("50")),  # the cap
    ]:
        refer(program, referee)
        (reward,) = program.record_conversion(f"o-{referee}", referee, amount, currency).rewards
        assert (reward.kind, reward.value, reward.currency) == ("percent", value, currency.upper())


def test_earned_reward_has_the_contract_fields(example: Program) -> None:
    refer(example, "bob")
    referrer, referee = example.record_conversion("o1", "bob", Decimal("100"), "EUR").rewards
    assert (referrer.beneficiary_id, referrer.role, referrer.kind, referrer.value) == (
        "alice",
        "referrer",
        "percent",
        Decimal("10.00"),
    )
    assert (referrer.currency, referrer.status, referrer.order_id) == ("EUR", "pending", "o1")
    assert (referee.beneficiary_id, referee.role, referee.kind, referee.value) == (
        "bob",
        "referee",
        "fixed",
        Decimal("5"),
    )


def test_points_rewards_have_no_currency(make_program: Callable[..., Program]) -> None:
    program = make_program(rules=refkit.RewardRules(referee_reward=refkit.Reward.points(100)))
    refer(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", "30", "EUR").rewards
    assert (reward.role, reward.kind, reward.value, reward.currency) == (
        "referee",
        "points",
        100,
        None,
    )


def test_a_fixed_reward_with_more_decimals_than_its_currency_is_refused_up_front() -> None:
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(Decimal("5.555"), "EUR")


def test_a_cap_with_more_decimals_than_the_order_currency_still_records(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(50, cap="10.555"))
    )
    refer(program, "bob")
    (reward,) = program.record_conversion("o1", "bob", "100", "JPY").rewards
    assert reward.value == Decimal("10")


def test_without_rules_a_program_tracks_visits_referrals_and_conversions_and_earns_no_rewards(
    program: Program, clock: refkit.FrozenClock
) -> None:
    program.record_visit(program.code_for("alice"))
    refer(program, "bob")
    conversion = program.record_conversion("o1", "bob", Decimal("100"), "EUR")
    assert conversion.referrer_id == "alice"
    assert len(conversion.rewards) == 0
    stats = program.stats_for("alice")
    assert (stats.visits, stats.signups, stats.conversions, stats.revenue) == (
        1,
        1,
        1,
        Decimal("100"),
    )
    assert program.approve_due(now=clock() + timedelta(days=365)) == []
    assert program.summary().reward_cost == 0


# -- amounts and currencies ----------------------------------------------------------------


@pytest.mark.parametrize("amount", [Decimal("19.99"), 20, "19.99", " 19.99 "])
def test_amounts_are_decimals_and_accept_int_and_numeric_str(
    every_order: Program, amount: object
) -> None:
    conversion = every_order.record_conversion("o1", "bob", amount, "EUR")  # type: ignore[arg-type]
    assert isinstance(conversion.amount, Decimal)
    assert conversion.amount == Decimal(str(amount).strip())


@pytest.mark.parametrize("currency", ["EUR", "JPY", "BHD", "USD"])
def test_amounts_up_to_10_to_the_12_are_accepted(every_order: Program, currency: str) -> None:
    big = Decimal(10) ** 12
    assert every_order.record_conversion("o1", "bob", big, currency).amount == big


def test_amounts_up_to_10_to_the_12_are_accepted_in_four_decimal_currencies(
    every_order: Program,
) -> None:
    big = Decimal(10) ** 12
    assert every_order.record_conversion("o1", "bob", big, "CLF").amount == big


@pytest.mark.parametrize(
    "amount",
    [
        1.5,
        20.0,
        True,
        False,
        Decimal("NaN"),
        Decimal("sNaN"),
        "NaN",
        Decimal("Infinity"),
        "-Infinity",
        Decimal("-0.01"),
        -1,
        Decimal(10) ** 12 + Decimal("0.01"),
        10**13,
        "1e400",
        "abc",
        "",
        None,
    ],
)
def test_bad_amounts_are_refused_with_validation_error_before_anything_is_stored(
    every_order: Program, amount: object
) -> None:
    refer(every_order, "bob")
    with pytest.raises(refkit.ValidationError):
        every_order.record_conversion("o1", "bob", amount, "EUR")  # type: ignore[arg-type]
    assert every_order.stats_for("alice").conversions == 0
    # nothing was stored under o1: other details are no conflict
    assert every_order.record_conversion("o1", "carol", "1", "USD").customer_id == "carol"


@pytest.mark.parametrize("amount", [1.5, True, Decimal("NaN"), -1, 10**13])
def test_bad_amounts_are_refused_everywhere_amounts_are_taken(amount: object) -> None:
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(amount, "EUR")  # type: ignore[arg-type]
    with pytest.raises(refkit.RefkitError):
        refkit.RewardRules(min_order_amount=amount)  # type: ignore[arg-type]


def test_bad_refund_amounts_are_refused(every_order: Program) -> None:
    every_order.record_conversion("o1", "bob", "30", "EUR")
    for amount in (1.5, True, Decimal("NaN"), -1, "31"):
        with pytest.raises(refkit.ValidationError):
            every_order.refund("o1", amount)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "currency", ["EURO", "EU", "E1R", "€UR", "\uff25\uff35\uff32", "", " EUR", None, 978]
)
def test_currencies_that_are_not_three_ascii_letters_are_refused(
    every_order: Program, currency: object
) -> None:
    with pytest.raises(refkit.ValidationError):
        every_order.record_conversion("o1", "bob", "30", currency)  # type: ignore[arg-type]
    with pytest.raises(refkit.ValidationError):
        refkit.Reward.fixed(5, currency)  # type: ignore[arg-type]
    assert every_order.record_conversion("o1", "carol", "1", "USD").customer_id == "carol"


def test_currencies_that_are_not_iso_4217_are_refused(every_order: Program) -> None:
    with pytest.raises(refkit.ValidationError, match="ISO 4217"):
        every_order.record_conversion("o1", "bob", "30", "ABC")


@pytest.mark.parametrize("currency", ["eur", "Eur", "eUR", "EUR"])
def test_currencies_are_accepted_in_any_case_and_stored_upper_case(
    every_order: Program, currency: str
) -> None:
    refer(every_order, "bob")
    conversion = every_order.record_conversion("o1", "bob", "30", currency)
    assert conversion.currency == "EUR"
    assert {r.currency for r in conversion.rewards} == {"EUR"}
    assert refkit.Reward.fixed(5, currency).currency == "EUR"


# -- program.store and SQLite --------------------------------------------------------------


def test_program_store_is_shared_by_programs_with_other_keys_or_rules(
    every_order: Program,
) -> None:
    other = refkit.ReferralProgram(secret_key=OTHER_SECRET, store=every_order.store)
    assert isinstance(every_order.store, refkit.Store)
    assert other.store is every_order.store
    refer(every_order, "bob")
    assert other.stats_for("alice").signups == 1
    with pytest.raises(refkit.AlreadyReferred):
        refer(other, "bob", "carol")
    assert other.resolve(other.code_for("alice")) == "alice"
    assert len(other.record_conversion("o1", "bob", "30", "EUR").rewards) == 0  # its own rules


def test_sqlite_uses_wal_and_at_least_synchronous_normal(
    contract_program: Program, tmp_path: Path
) -> None:
    contract_program.code_for("alice")
    engine = contract_program.store.engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() >= 1  # NORMAL = 1
    raw = sqlite3.connect(tmp_path / "refkit.db")
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persisted in the file
    finally:
        raw.close()


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


# -- errors --------------------------------------------------------------------------------

ERRORS = [
    "InvalidCode",
    "SelfReferral",
    "AlreadyReferred",
    "ConflictError",
    "ValidationError",
    "StorageError",
    "ConfigurationError",
]


@pytest.mark.parametrize("name", ERRORS)
def test_every_error_is_exported_and_subclasses_refkit_error(name: str) -> None:
    assert name in refkit.__all__
    assert issubclass(getattr(refkit, name), refkit.RefkitError)
    assert issubclass(refkit.RefkitError, Exception)


@pytest.mark.parametrize(
    "secret_key", [None, "", "x" * 31, b"x" * 31, [], ["x" * 32, "short"], 12345]
)
def test_a_missing_or_short_secret_key_raises_configuration_error(secret_key: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match=r"secret_key|32"):
        refkit.ReferralProgram(secret_key=secret_key, store="memory://")  # type: ignore[arg-type]


def test_a_secret_key_of_32_characters_is_enough() -> None:
    program = refkit.ReferralProgram(secret_key="k" * 32, store="memory://")
    assert program.resolve(program.code_for("alice")) == "alice"


def test_bad_configuration_raises_configuration_error(program: Program) -> None:
    with pytest.raises(refkit.ConfigurationError):
        refkit.ReferralProgram(secret_key=SECRET, store="nosuchdb://x")
    with pytest.raises(refkit.ConfigurationError):
        refkit.RewardRules(first_purchase_only="yes")  # type: ignore[arg-type]
    with pytest.raises(refkit.ConfigurationError):
        program.on("reward.paid", print)


def test_a_database_failure_raises_storage_error(tmp_path: Path) -> None:
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=f"sqlite:///{tmp_path / 'no-such-dir' / 'refkit.db'}"
    )
    with pytest.raises(refkit.StorageError):
        program.code_for("alice")
    program.store.close()  # type: ignore[attr-defined]


def _raised(call: Callable[[], object]) -> refkit.RefkitError:
    with pytest.raises(refkit.RefkitError) as caught:
        call()
    return caught.value


def test_each_message_says_what_was_wrong_and_what_to_do(every_order: Program) -> None:
    refer(every_order, "bob")
    every_order.record_conversion("o1", "bob", "30", "EUR")
    code = every_order.code_for("alice")
    cases: list[tuple[type[refkit.RefkitError], Callable[[], object], list[str]]] = [
        (refkit.InvalidCode, lambda: every_order.resolve("HELLO"), ["'HELLO'", "check"]),
        (refkit.SelfReferral, lambda: every_order.attribute("alice", code), ["'alice'", "own"]),
        (refkit.SelfReferral, lambda: refer(every_order, "alice", "bob"), ["cycle", "'bob'"]),
        (refkit.AlreadyReferred, lambda: refer(every_order, "bob", "carol"), ["'alice'"]),
        (
            refkit.ConflictError,
            lambda: every_order.record_conversion("o1", "bob", "31", "EUR"),
            ["'o1'", "amount", "new id"],
        ),
        (
            refkit.ValidationError,
            lambda: every_order.record_conversion("o2", "bob", 1.5, "EUR"),  # type: ignore[arg-type]
            ["amount", "float", "Decimal('1.5')"],
        ),
        (
            refkit.ValidationError,
            lambda: every_order.record_conversion("o2", "bob", "1", "EURO"),
            ["currency", "'EURO'", "three ASCII letters"],
        ),
        (
            refkit.ValidationError,
            lambda: every_order.record_visit(code, at=datetime(2026, 1, 1)),
            ["naive", "aware"],
        ),
        (
            refkit.ValidationError,
            lambda: every_order.code_for(""),
            ["user_id", "1 to 255"],
        ),
        (
            refkit.ConfigurationError,
            lambda: refkit.ReferralProgram(secret_key="short", store="memory://"),
            ["secret_key", "at least 32"],
        ),
    ]
    for kind, call, fragments in cases:
        message = str(_raised(call))
        assert isinstance(_raised(call), kind)
        for fragment in fragments:
            assert fragment in message, (fragment, message)


def test_a_storage_error_message_says_what_to_do(tmp_path: Path) -> None:
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=f"sqlite:///{tmp_path / 'no-such-dir' / 'refkit.db'}"
    )
    try:
        message = str(_raised(lambda: program.code_for("alice"))).lower()
    finally:
        program.store.close()  # type: ignore[attr-defined]
    assert any(hint in message for hint in ("check", "make sure", "retry", "ensure"))
