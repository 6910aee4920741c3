"""The program (../shared/API.md, Core): ``import refkit``, the constructor, the stores,
the hooks, the records and every exported name.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import refkit

from .support.contract import (
    OTHER_SECRET,
    Program,
    refer,
)
from .support.settings import SECRET

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
