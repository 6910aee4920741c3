"""The ``refkit`` command, run through ``refkit.cli.main`` on an SQLite file."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import refkit
from refkit.cli import LEDGER_COLUMNS, main

from .support.settings import SECRET

RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)
START = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)  # long enough ago for every hold to be over


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An SQLite URL; the key comes from the environment like in production."""
    monkeypatch.setenv("REFKIT_SECRET_KEY", SECRET)
    monkeypatch.delenv("REFKIT_DATABASE_URL", raising=False)
    return f"sqlite:///{tmp_path / 'shop.db'}"


@pytest.fixture
def program(db: str) -> Iterator[refkit.ReferralProgram]:
    """The shop's program on the same database and key as the command."""
    shop = refkit.ReferralProgram(
        secret_key=SECRET, store=db, rules=RULES, clock=refkit.FrozenClock(START)
    )
    yield shop
    shop.store.close()


@pytest.fixture
def sales(program: refkit.ReferralProgram) -> refkit.ReferralProgram:
    """alice referred bob (who bought twice) and carol (who bought once); dave referred erin."""
    alice, dave = program.code_for("alice"), program.code_for("dave")
    program.record_visit(alice)
    program.record_visit(alice)
    program.attribute("bob", alice)
    program.attribute("carol", alice)
    program.attribute("erin", dave)
    program.record_conversion("o-1", "bob", Decimal("100.00"), "EUR")
    program.record_conversion("o-2", "bob", Decimal("40.00"), "EUR")
    program.record_conversion("o-3", "carol", Decimal("60.00"), "EUR")
    program.record_conversion("o-4", "erin", Decimal("900.00"), "EUR")
    program.refund("o-3", Decimal("30.00"))
    return program


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_error_line(err: str, *words: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("refkit: error: ")
    for word in words:
        assert word in lines[0]


# -- init, code, resolve -------------------------------------------------------------------


def test_init_creates_the_tables(db: str, tmp_path: Path, capsys) -> None:
    status, out, err = run(capsys, "--db", db, "init")
    assert (status, err) == (0, "")
    assert "ready" in out
    assert (tmp_path / "shop.db").exists()
    assert run(capsys, "--db", db, "init")[0] == 0  # idempotent


def test_code_prints_the_users_code(db: str, program: refkit.ReferralProgram, capsys) -> None:
    status, out, _ = run(capsys, "--db", db, "code", "alice")
    assert status == 0
    assert out == program.code_for("alice") + "\n"


def test_resolve_prints_the_referrer(db: str, program: refkit.ReferralProgram, capsys) -> None:
    code = program.code_for("alice")
    dashed = f"{code[:4]}-{code[4:8]}-{code[8:]}".lower()
    status, out, err = run(capsys, "--db", db, "resolve", dashed)
    assert (status, out, err) == (0, "alice\n", "")


def test_global_options_also_work_after_the_subcommand(
    db: str, program: refkit.ReferralProgram, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REFKIT_SECRET_KEY")
    status, out, _ = run(capsys, "code", "alice", "--db", db, "--secret-key", SECRET)
    assert (status, out) == (0, program.code_for("alice") + "\n")


def test_database_url_comes_from_the_environment(
    db: str, program: refkit.ReferralProgram, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFKIT_DATABASE_URL", db)
    code = program.code_for("alice")
    assert run(capsys, "resolve", code)[:2] == (0, "alice\n")


def test_default_database_is_refkit_db_in_the_working_directory(
    db: str, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init")[0] == 0
    assert (tmp_path / "refkit.db").exists()


# -- stats ---------------------------------------------------------------------------------


def test_stats_for_a_user_is_aligned_text(db: str, sales: refkit.ReferralProgram, capsys) -> None:
    status, out, _ = run(capsys, "--db", db, "stats", "alice")
    assert status == 0
    lines = dict(_split(line) for line in out.splitlines())
    assert lines["user id"] == "alice"
    assert lines["visits"] == "2"
    assert lines["signups"] == "2"
    assert lines["conversions"] == "3"
    assert lines["revenue"] == "170.00"
    assert lines["rewards pending"] == "13.00"
    starts = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in out.splitlines()}
    assert len(starts) == 1  # every value starts in the same column


def _split(line: str) -> tuple[str, str]:
    label, value = line.split("  ", 1)
    return label.strip(), value.strip()


def test_stats_json_has_decimals_as_strings(db: str, sales: refkit.ReferralProgram, capsys) -> None:
    status, out, _ = run(capsys, "--db", db, "stats", "alice", "--json")
    assert status == 0
    data = json.loads(out)
    assert data["user_id"] == "alice"
    assert data["conversions"] == 3
    assert data["revenue"] == "170.00"
    assert data["revenue_by_currency"] == {"EUR": "170.00"}
    assert data["rewards"]["pending"] == "13.00"
    assert data["balance"] == "0"
    assert Decimal(data["balance"]) == sales.stats_for("alice").balance


def test_stats_without_user_is_the_program_summary(
    db: str, sales: refkit.ReferralProgram, capsys
) -> None:
    status, out, _ = run(capsys, "--db", db, "stats")
    assert status == 0
    lines = dict(_split(line) for line in out.splitlines())
    summary = sales.summary()
    assert lines["referrers"] == str(summary.referrers)
    assert lines["signups"] == "3"
    assert lines["revenue"] == str(summary.revenue)
    assert "k factor" in lines
    status, out, _ = run(capsys, "--db", db, "stats", "--json")
    data = json.loads(out)
    assert data["revenue"] == str(summary.revenue)
    assert data["reward_cost"] == str(summary.reward_cost)
    assert data["conversion_rate"] == summary.conversion_rate


# -- leaderboard ---------------------------------------------------------------------------


def test_leaderboard_by_conversions_and_revenue(
    db: str, sales: refkit.ReferralProgram, capsys
) -> None:
    status, out, _ = run(capsys, "--db", db, "leaderboard")
    assert status == 0
    header, *rows = out.splitlines()
    assert header.split() == ["rank", "referrer", "conversions", "revenue", "signups"]
    assert [row.split()[:3] for row in rows] == [["1", "alice", "3"], ["2", "dave", "1"]]
    status, out, _ = run(capsys, "--db", db, "leaderboard", "--by", "revenue", "--limit", "1")
    assert [row.split()[:4] for row in out.splitlines()[1:]] == [["1", "dave", "1", "900.00"]]


def test_leaderboard_json(db: str, sales: refkit.ReferralProgram, capsys) -> None:
    status, out, _ = run(capsys, "--db", db, "leaderboard", "--json")
    assert status == 0
    assert [(e["referrer_id"], e["revenue"]) for e in json.loads(out)] == [
        ("alice", "170.00"),
        ("dave", "900.00"),
    ]


def test_leaderboard_bad_options(db: str, capsys) -> None:
    status, _, err = run(capsys, "--db", db, "leaderboard", "--by", "visits")
    assert status == 2
    assert "invalid choice" in err
    status, _, err = run(capsys, "--db", db, "leaderboard", "--limit", "0")
    assert status == 1
    assert_one_error_line(err, "limit")


# -- approve -------------------------------------------------------------------------------


def test_approve_approves_due_rewards_once(db: str, sales: refkit.ReferralProgram, capsys) -> None:
    pending = sales.rewards(status="pending")
    assert len(pending) == 6
    assert run(capsys, "--db", db, "approve")[:2] == (0, "approved 6 rewards\n")
    assert run(capsys, "--db", db, "approve")[:2] == (0, "approved 0 rewards\n")
    assert {reward.status for reward in sales.rewards()} == {"approved"}


# -- export --------------------------------------------------------------------------------


def expected_rows(program: refkit.ReferralProgram) -> list[list[str]]:
    return [
        [
            str(entry.id),
            entry.created_at.isoformat(),
            str(entry.reward_id),
            entry.beneficiary_id,
            entry.kind,
            str(entry.pending),
            str(entry.approved),
            entry.currency or "",
            entry.reference or "",
        ]
        for entry in sorted(program.ledger(), key=lambda entry: entry.id)
    ]


def test_export_writes_the_ledger_as_csv_to_stdout(
    db: str, sales: refkit.ReferralProgram, capsys
) -> None:
    sales.approve_due(START + timedelta(days=15))
    status, out, err = run(capsys, "--db", db, "export")
    assert (status, err) == (0, "")
    header, *rows = list(csv.reader(io.StringIO(out)))
    assert header == list(LEDGER_COLUMNS)
    assert header == [
        "id", "created_at", "reward_id", "beneficiary_id", "kind", "pending", "approved",
        "currency", "reference",
    ]  # fmt: skip
    assert rows == expected_rows(sales)
    kinds = {row[4] for row in rows}
    assert {"accrued", "adjusted", "approved"} <= kinds
    first = rows[0]
    assert datetime.fromisoformat(first[1]) == START
    assert (first[3], first[5], first[6], first[7]) == ("alice", "10.00", "0.00", "EUR")


def test_export_to_a_file(db: str, sales: refkit.ReferralProgram, tmp_path: Path, capsys) -> None:
    target = tmp_path / "ledger.csv"
    status, out, err = run(capsys, "--db", db, "export", "--output", str(target))
    assert (status, out) == (0, "")
    assert "ledger.csv" in err
    with target.open(newline="", encoding="utf-8") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == list(LEDGER_COLUMNS)
    assert rows == expected_rows(sales)
    assert [path.name for path in tmp_path.iterdir() if "ledger" in path.name] == ["ledger.csv"]


def test_export_of_an_empty_ledger_is_the_header(db: str, capsys) -> None:
    status, out, _ = run(capsys, "--db", db, "export")
    assert status == 0
    assert out.splitlines() == [",".join(LEDGER_COLUMNS)]


def test_export_to_a_missing_directory_fails_cleanly(db: str, tmp_path: Path, capsys) -> None:
    target = tmp_path / "missing" / "ledger.csv"
    status, out, err = run(capsys, "--db", db, "export", "-o", str(target))
    assert (status, out) == (1, "")
    assert_one_error_line(err, "ledger.csv")
    assert not target.parent.exists()


# -- errors --------------------------------------------------------------------------------


def test_missing_secret_key_is_one_clear_line(
    db: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REFKIT_SECRET_KEY")
    for command in (["code", "alice"], ["stats"], ["init"]):
        status, out, err = run(capsys, "--db", db, *command)
        assert (status, out) == (1, "")
        assert_one_error_line(err, "REFKIT_SECRET_KEY", "--secret-key")


def test_short_secret_key_is_refused(db: str, capsys) -> None:
    status, _, err = run(capsys, "--db", db, "--secret-key", "too-short", "code", "alice")
    assert status == 1
    assert_one_error_line(err, "32")


def test_invalid_code_exits_1_with_one_line(
    db: str, program: refkit.ReferralProgram, capsys
) -> None:
    code = program.code_for("alice")
    typo = code[:3] + ("X" if code[3] != "X" else "Y") + code[4:]
    for bad in (typo, "nope", "A" * 12):
        status, out, err = run(capsys, "--db", db, "resolve", bad)
        assert (status, out) == (1, "")
        assert_one_error_line(err, bad)


def test_bad_database_url_is_one_line(db: str, capsys) -> None:
    status, _, err = run(capsys, "--db", "nosuchscheme://x", "stats")
    assert status == 1
    assert_one_error_line(err, "nosuchscheme")


def test_usage_errors_exit_2(db: str, capsys) -> None:
    for argv in (["frobnicate"], [], ["code"], ["resolve", "a", "b"]):
        status, out, err = run(capsys, "--db", db, *argv)
        assert status == 2, argv
        assert out == ""
        assert "usage: refkit" in err


def test_help_and_version(capsys) -> None:
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for command in ("init", "code", "resolve", "stats", "leaderboard", "approve", "export"):
        assert command in out
    status, out, _ = run(capsys, "--version")
    assert (status, out) == (0, f"refkit {refkit.__version__}\n")


def test_python_dash_m_refkit_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refkit", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: refkit")
    assert "export" in result.stdout


def test_python_dash_m_refkit_error_exit_status(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "REFKIT_SECRET_KEY": SECRET,
        "REFKIT_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "refkit", "resolve", "?"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert_one_error_line(result.stderr, "not a valid referral code")
