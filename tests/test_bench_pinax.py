"""bench/pinax.py still runs: refkit's half always, pinax-referrals' half only where its
virtualenv (``bench/.venv-pinax``) was built by a benchmark run. The tests never build it:
that takes the network and a while."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import pinax
from bench.report import text_table

from .support.bench import assert_measured


def test_refkit_side_runs_every_operation(tmp_path: Path) -> None:
    side = pinax.RefkitSide(f"sqlite:///{tmp_path / 'refkit.db'}", rounds=2, size=3)
    try:
        for index in range(2):
            for op in pinax.OPS:
                assert side.run(op, index) > 0
        # two landings per visitor and round: the library call and the HTTP one
        assert side.check() == "referrers=6 visits=12 signups=6"
    finally:
        side.close()


def test_without_the_virtualenv_the_report_is_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pinax, "VENV", tmp_path / "missing")
    report = pinax.run(quick=True, build=False)
    assert report.rows == []
    assert report.notes == [f"vs pinax: skipped, {tmp_path / 'missing'} is not built"]


def test_a_failed_build_is_a_note_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(command: list[str], **options: Any) -> None:
        if "pip" in command:
            raise subprocess.CalledProcessError(
                1, command, stderr="ERROR: No matching distribution found for pinax-referrals"
            )

    monkeypatch.setattr(subprocess, "run", offline)
    note = pinax.build_venv(tmp_path / "venv")
    assert note is not None
    assert note.startswith("vs pinax: skipped")
    assert "No matching distribution" in note
    assert not pinax.venv_ready(tmp_path / "venv")


@pytest.mark.skipif(not pinax.venv_ready(), reason="bench/.venv-pinax is not built")
def test_pinax_benchmark_runs() -> None:
    report = pinax.run(sizes=pinax.Sizes(users=3, rounds=2), build=False)
    assert [row.name for row in report.rows] == [name for name, _ in pinax.ROWS.values()]
    assert_measured(report.rows)
    assert all("pinax-referrals" in row.baseline_is for row in report.rows)
    assert "journal_mode=wal, synchronous=NORMAL" in report.notes[0]
    assert "pinax referrals=9 landings=18 signups=9 sessions=9" in report.notes[0]
    assert text_table(report.rows, report.lines, report.notes)
