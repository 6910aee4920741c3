"""Errors (../shared/API.md): the error tree, configuration and storage errors, and messages
that say what was wrong and what to do.

Every test uses the API exactly as the contract spells it and runs on every store (memory, an
SQLite file, PostgreSQL) through the shared fixtures, unless the statement is about one store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

import refkit

from .support.contract import (
    Program,
    refer,
)
from .support.settings import SECRET

# -- errors --------------------------------------------------------------------------------

ERRORS = [
    "InvalidCode",
    "SelfReferral",
    "AlreadyReferred",
    "ExistingCustomer",
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
            lambda: every_order.record_conversion("o2", "bob", float("nan"), "EUR"),
            ["amount", "finite"],
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
