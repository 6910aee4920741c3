"""``refkit balances`` (a payout list as CSV) and ``refkit pay-out`` (recording the payouts),
through ``refkit.cli.main`` and ``flask refkit`` on SQLite files."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask

import refkit
from refkit.cli import BALANCE_COLUMNS, main

from .support.api_shop import program_of, running_shop
from .support.settings import SECRET

RULES = refkit.RewardRules(referrer_reward=refkit.Reward.percent(10))
START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REFKIT_SECRET_KEY", SECRET)
    monkeypatch.delenv("REFKIT_DATABASE_URL", raising=False)
    return f"sqlite:///{tmp_path / 'shop.db'}"


def owed(program: refkit.ReferralProgram) -> refkit.ReferralProgram:
    """alice is owed 30.00 EUR, dave 5.00 EUR, erin 4.00 USD (all approved)."""
    for referrer, referee, amount, currency in (
        ("alice", "bob", "300", "EUR"),
        ("dave", "carol", "50", "EUR"),
        ("erin", "fred", "40", "USD"),
    ):
        program.attribute(referee, program.code_for(referrer))
        program.record_conversion(f"order-{referee}", referee, amount, currency)
    for reward in program.rewards(status="pending"):
        program.approve(reward.id)
    return program


@pytest.fixture
def program(db: str) -> Iterator[refkit.ReferralProgram]:
    shop = refkit.ReferralProgram(
        secret_key=SECRET, store=db, rules=RULES, clock=refkit.FrozenClock(START)
    )
    yield owed(shop)
    shop.store.close()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_balances_prints_a_payout_list(db: str, program: refkit.ReferralProgram, capsys) -> None:
    status, out, err = run(capsys, "--db", db, "balances")
    assert status == 0
    assert rows(out) == [
        list(BALANCE_COLUMNS),
        ["alice", "EUR", "30.00"],
        ["dave", "EUR", "5.00"],
        ["erin", "USD", "4.00"],
    ]
    assert "3 balances" in err
    status, out, _ = run(capsys, "--db", db, "balances", "--min", "5", "--currency", "eur")
    assert rows(out) == [list(BALANCE_COLUMNS), ["alice", "EUR", "30.00"], ["dave", "EUR", "5.00"]]
    status, out, _ = run(capsys, "--db", db, "balances", "--min", "10")
    assert rows(out)[1:] == [["alice", "EUR", "30.00"]]


def test_paying_out_a_balances_file_records_each_line_once(
    db: str, program: refkit.ReferralProgram, tmp_path: Path, capsys
) -> None:
    payouts = tmp_path / "payouts.csv"
    payouts.write_text(run(capsys, "--db", db, "balances", "--currency", "EUR")[1])
    args = ("--db", db, "pay-out", "--from", str(payouts), "--reference-prefix", "2026-12")
    status, out, err = run(capsys, *args)
    assert (status, err) == (0, "")
    assert "recorded 2 payouts" in out
    assert program.balance("alice", "EUR") == program.balance("dave", "EUR") == 0
    assert program.balance("erin", "USD") == Decimal("4.00")
    paid = [e for e in program.ledger() if e.kind == "paid_out"]
    assert sorted((e.beneficiary_id, e.approved, e.reference) for e in paid) == [
        ("alice", Decimal("-30.00"), "2026-12:alice:EUR"),
        ("dave", Decimal("-5.00"), "2026-12:dave:EUR"),
    ]
    assert run(capsys, *args)[0] == 0  # the same file again: nothing twice
    assert len([e for e in program.ledger() if e.kind == "paid_out"]) == 2
    assert rows(run(capsys, "--db", db, "balances")[1])[1:] == [["erin", "USD", "4.00"]]


def test_a_line_over_the_balance_stops_with_one_error(
    db: str, program: refkit.ReferralProgram, tmp_path: Path, capsys
) -> None:
    payouts = tmp_path / "payouts.csv"
    payouts.write_text("user_id,currency,balance\ndave,EUR,5.00\nalice,EUR,31.00\n")
    status, _, err = run(
        capsys, "--db", db, "pay-out", "--from", str(payouts), "--reference-prefix", "x"
    )
    assert status == 1
    assert "line 3" in err
    assert err.splitlines()[-1].startswith("refkit: error: ")
    assert "balance of 30.00 EUR" in err
    assert program.balance("dave", "EUR") == 0  # the line before was recorded
    assert program.balance("alice", "EUR") == Decimal("30.00")


def test_paying_out_one_balance(db: str, program: refkit.ReferralProgram, capsys) -> None:
    argv = ("--db", db, "pay-out", "alice", "12.50", "EUR", "--reference", "bank-1")
    status, out, _ = run(capsys, *argv)
    assert (status, out) == (0, "paid out 12.50 EUR to alice\n")
    assert program.balance("alice", "EUR") == Decimal("17.50")
    status, _, err = run(capsys, "--db", db, "pay-out", "alice", "12.50", "EUR")
    assert status == 1
    assert "--reference" in err


def test_a_file_that_is_not_a_balances_list_is_refused(
    db: str, program: refkit.ReferralProgram, tmp_path: Path, capsys
) -> None:
    other = tmp_path / "other.csv"
    other.write_text("id,amount\n1,2\n")
    status, _, err = run(
        capsys, "--db", db, "pay-out", "--from", str(other), "--reference-prefix", "p"
    )
    assert status == 1
    assert "refkit balances" in err
    assert program.balance("alice", "EUR") == Decimal("30.00")


def test_flask_refkit_runs_the_same_commands(tmp_path: Path, clock: refkit.FrozenClock) -> None:
    with running_shop(tmp_path, clock) as app:
        program = owed(program_of(app))
        runner = _runner(app)
        listed = runner.invoke(args=["refkit", "balances", "--currency", "EUR"])
        assert listed.exit_code == 0, listed.output
        expected = [
            [b.user_id, b.currency, str(b.amount)] for b in program.balances(currency="EUR")
        ]
        assert rows(listed.stdout) == [list(BALANCE_COLUMNS), *expected]
        assert any(line[0] == "alice" for line in expected)
        payouts = tmp_path / "payouts.csv"
        payouts.write_text(listed.stdout)
        paid = runner.invoke(
            args=["refkit", "pay-out", "--from", str(payouts), "--reference-prefix", "m1"]
        )
        assert paid.exit_code == 0, paid.output
        assert program.balance("alice", "EUR") == 0
        usd = program.balance("erin", "USD")
        one = runner.invoke(args=["refkit", "pay-out", "erin", "1", "USD", "--reference", "r"])
        assert one.exit_code == 0, one.output
        assert program.balance("erin", "USD") == usd - 1


def _runner(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_cli_runner()
