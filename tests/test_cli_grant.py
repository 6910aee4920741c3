"""``refkit grant`` and ``flask refkit grant``: a reward given by hand, idempotent by its
reference; and ``refkit stats`` showing the milestone progress."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import refkit
from refkit.cli import main

from .support.api_shop import program_of, running_shop
from .support.settings import SECRET

START = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10),
    milestones=[refkit.Milestone(1, refkit.Reward.points(5))],
)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REFKIT_SECRET_KEY", SECRET)
    monkeypatch.delenv("REFKIT_DATABASE_URL", raising=False)
    return f"sqlite:///{tmp_path / 'shop.db'}"


def shop(db: str) -> refkit.ReferralProgram:
    return refkit.ReferralProgram(
        secret_key=SECRET, store=db, rules=RULES, clock=refkit.FrozenClock(START)
    )


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_grant_gives_money_or_points_once_per_reference(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    money = ("grant", "alice", "10.00", "eur", "--reference", "prize-7", "--reason", "contest")
    status, out, _ = run(capsys, "--db", db, *money)
    assert status == 0
    assert out.startswith("granted 10.00 EUR to alice")
    assert run(capsys, "--db", db, *money)[1] == out  # the same reward again
    status, out, _ = run(
        capsys, "--db", db, "grant", "alice", "500", "points", "--reference", "p-1", "--reason", "x"
    )
    assert (status, out.split(" (")[0]) == (0, "granted 500 points to alice")
    program = shop(db)
    try:
        assert program.balance("alice", "EUR") == Decimal("10.00")
        assert program.balance("alice", None) == 500
    finally:
        program.store.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("bob", "10.00", "EUR", "--reference", "prize-7", "--reason", "x"), "prize-7"),
        (("bob", "1.5", "points", "--reference", "p-2", "--reason", "x"), "whole number"),
        (("bob", "-3", "EUR", "--reference", "p-3", "--reason", "x"), "fixed reward"),
        (("bob", "3", "EUR", "--reference", "p-4", "--reason", ""), "reason"),
    ],
)
def test_grant_refuses_a_conflict_or_bad_input(
    db: str, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    first = ("grant", "alice", "10.00", "EUR", "--reference", "prize-7", "--reason", "contest")
    assert run(capsys, "--db", db, *first)[0] == 0
    status, _, err = run(capsys, "--db", db, "grant", *argv)
    assert status == 1
    assert err.startswith("refkit: error:")
    assert message in err
    program = shop(db)
    try:
        assert program.balance("bob", "EUR") == 0
        assert program.balance("bob", None) == 0
    finally:
        program.store.close()


def test_stats_show_the_milestone_progress(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    program = shop(db)
    try:
        stats = json.loads(run(capsys, "--db", db, "stats", "alice", "--json")[1])
        # the command has no rules (only the key and the store): no next milestone to name
        assert (stats["milestone_progress"], stats["next_milestone"]) == (0, None)
        program.attribute("bob", program.code_for("alice"))
        program.record_conversion("o-1", "bob", "40", "EUR")
        program.approve_due()
        stats = json.loads(run(capsys, "--db", db, "stats", "alice", "--json")[1])
        assert stats["milestone_progress"] == 1
        assert stats["next_milestone"] is None
        assert stats["milestones_reached"] == [1]
        status, text, _ = run(capsys, "--db", db, "stats", "alice")
        assert status == 0
        assert "milestone progress" in text
    finally:
        program.store.close()


def test_flask_refkit_grant_and_stats(tmp_path: Path, clock: refkit.FrozenClock) -> None:
    with running_shop(tmp_path, clock, REFKIT_RULES=RULES) as app:
        runner = app.test_cli_runner()
        argv = ["refkit", "grant", "alice", "3", "EUR", "--reference", "g", "--reason", "sorry"]
        result = runner.invoke(args=argv)
        assert result.exit_code == 0, result.output
        assert runner.invoke(args=argv).exit_code == 0
        assert program_of(app).balance("alice", "EUR") == Decimal("3.00")
        conflict = runner.invoke(args=[*argv[:3], "4", *argv[4:]])
        assert conflict.exit_code == 1
        assert "'g'" in conflict.output
        stats = runner.invoke(args=["refkit", "stats", "alice", "--json"])
        assert json.loads(stats.stdout)["next_milestone"] == {
            "count": 1,
            "value": "5",
            "currency": None,
        }
