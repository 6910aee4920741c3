"""``python -m refkit.demo`` (what ``make demo`` runs) goes through every step and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from refkit import demo

STEPS = [
    "Codes: the same user always gets the same code",
    "reason 'typo'",
    "reason 'bad_signature'",
    "visit",
    "dave's referrer            alice",
    "AlreadyReferred",
    "SelfReferral",
    "referrer_rewarded, referee_rewarded",
    "referrer alice: 15.00 EUR pending",
    "referee dave: 5.00 EUR pending",
    "nothing new is created",
    "same rewards               True",
    "not_first_purchase",
    "not_referred",
    "referrer bob: 25.00 EUR pending",  # 10% of 400 EUR, capped at 25
    "referrer alice: 10.00 EUR pending (was 15.00)",  # a third of the order refunded
    "referrer alice: 10.00 EUR approved",
    "alice's balance            10.00 EUR",
    "The ledger",
    "adjusted",
]


def test_demo_walks_through_every_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main() == 0
    out = capsys.readouterr().out
    for text in STEPS:
        assert text in out, text
    # Resolving is case-, dash- and space-insensitive: four spellings, one referrer.
    resolve = out.split("== Resolve")[1].split("==")[0]
    assert resolve.count(" alice\n") == 4


def test_demo_runs_as_a_module_and_leaves_nothing_behind(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "refkit.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Done" in result.stdout
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []
