"""``flask refkit ...`` through ``app.test_cli_runner()``, on the app's own SQLite file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import create_engine, inspect

import refkit
from refkit.cli import LEDGER_COLUMNS, main

from .support.api_shop import program_of, running_shop


@pytest.fixture
def app(tmp_path: Path, clock: refkit.FrozenClock) -> Iterator[Flask]:
    with running_shop(tmp_path, clock) as app:
        yield app


@pytest.fixture
def sales(app: Flask) -> refkit.ReferralProgram:
    """alice referred bob, who bought for 100.00 (alice earns 10.00, bob 5.00, both pending)."""
    program = program_of(app)
    program.record_visit(program.code_for("alice"))
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("100.00"), "EUR")
    return program


def run(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["refkit", *args])


def test_the_refkit_group_lists_its_commands(app: Flask) -> None:
    result = run(app, "--help")
    assert result.exit_code == 0
    for command in ("init-db", "stats", "approve", "export", "rotate-keys"):
        assert command in result.output


def test_init_db_creates_the_tables_in_the_apps_database(app: Flask, tmp_path: Path) -> None:
    result = run(app, "init-db")
    assert result.exit_code == 0, result.output
    assert "refkit tables are ready" in result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'refkit.db'}")
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert any(name.startswith("refkit") for name in tables)
    assert run(app, "init-db").exit_code == 0  # idempotent


def test_stats_without_a_user_prints_the_program_summary(
    app: Flask, sales: refkit.ReferralProgram
) -> None:
    result = run(app, "stats")
    assert result.exit_code == 0, result.output
    summary = dict(line.rsplit(None, 1) for line in result.stdout.splitlines())
    assert summary["referrers"] == "1"
    assert summary["visits"] == "1"
    assert summary["signups"] == "1"
    assert Decimal(summary["revenue"]) == Decimal("100.00")
    assert float(summary["k factor"]) == 1.0


def test_stats_of_a_user_as_json(app: Flask, sales: refkit.ReferralProgram) -> None:
    result = run(app, "stats", "alice", "--json")
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["user_id"] == "alice"
    assert stats["visits"] == 1
    assert stats["signups"] == 1
    assert Decimal(stats["revenue"]) == Decimal("100.00")
    assert Decimal(stats["rewards"]["pending"]) == Decimal("10.00")
    assert Decimal(stats["balance"]) == 0


def test_stats_of_a_user_as_text(app: Flask, sales: refkit.ReferralProgram) -> None:
    result = run(app, "stats", "alice")
    assert result.exit_code == 0, result.output
    assert "rewards pending" in result.stdout
    assert "10.00" in result.stdout


def test_approve_approves_due_rewards_and_prints_the_count(
    app: Flask, sales: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    assert run(app, "approve").stdout.strip() == "approved 0 rewards"
    clock.advance(days=15)
    assert run(app, "approve").stdout.strip() == "approved 2 rewards"
    assert sales.stats_for("alice").balance == Decimal("10.00")
    assert run(app, "approve").stdout.strip() == "approved 0 rewards"


def read_csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_export_writes_the_ledger_csv_to_stdout(app: Flask, sales: refkit.ReferralProgram) -> None:
    result = run(app, "export")
    assert result.exit_code == 0, result.output
    rows = read_csv(result.stdout)
    assert tuple(rows[0]) == LEDGER_COLUMNS
    assert sorted((row[3], row[4], row[5]) for row in rows[1:]) == [
        ("alice", "accrued", "10.00"),
        ("bob", "accrued", "5.00"),
    ]


def test_export_to_a_file_matches_the_core_commands_output(
    app: Flask, sales: refkit.ReferralProgram, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "ledger.csv"
    result = run(app, "export", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert "exported 2 ledger entries" in result.stderr
    core = tmp_path / "core.csv"
    monkeypatch.setenv("REFKIT_SECRET_KEY", app.config["SECRET_KEY"])
    url = f"sqlite:///{tmp_path / 'refkit.db'}"
    assert main(["--db", url, "export", "-o", str(core)]) == 0
    assert target.read_text() == core.read_text()


def test_export_of_an_empty_ledger_is_the_header_only(app: Flask) -> None:
    assert read_csv(run(app, "export").stdout) == [list(LEDGER_COLUMNS)]


def test_export_to_an_unwritable_place_fails_with_one_line(app: Flask, tmp_path: Path) -> None:
    result = run(app, "export", "-o", str(tmp_path / "missing-dir" / "ledger.csv"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot write")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_a_refkit_error_is_one_line_and_exit_1(app: Flask) -> None:
    result = run(app, "stats", "bad\nuser")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1


def test_a_multi_line_refkit_error_is_folded_into_one_line(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> list[refkit.EarnedReward]:
        raise refkit.StorageError("the database is locked;\n  retry in a moment")

    monkeypatch.setattr(program_of(app), "approve_due", fail)
    result = run(app, "approve")
    assert result.exit_code == 1
    assert result.stderr == "Error: the database is locked; retry in a moment\n"


def test_rotate_keys_runs_the_core_command_on_the_apps_program(app: Flask) -> None:
    result = run(app, "rotate-keys")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("0 retired keys in the keyring")  # one key: none retired
