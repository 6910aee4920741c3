"""The benchmarks still run (tiny sizes, no timing assertions: see bench/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import codes, conversions, discounts
from bench.__main__ import main
from bench.harness import Report
from bench.report import markdown, text_table

from .support.settings import postgres_url_or_skip


def _check(report: Report, rows: int) -> None:
    assert len(report.rows) == rows
    for row in report.rows:
        assert row.refkit > 0
        assert row.baseline is not None
        assert row.baseline > 0
    assert text_table(report.rows, report.lines, report.notes)
    assert markdown(report.rows, report.lines, report.notes, "smoke").startswith("# refkit")


def test_codes_benchmark_runs() -> None:
    _check(codes.run(codes.Sizes(codes=20, batch=10, rounds=2)), rows=4)


def test_sqlite_conversions_benchmark_runs() -> None:
    _check(conversions.run_sqlite(conversions.SqliteSizes(conversions=20, rounds=2)), rows=2)


def test_sqlite_discounts_benchmark_runs() -> None:
    report = discounts.run_sqlite(discounts.Sizes(calls=10, rounds=2))
    _check(report, rows=2)
    assert [row.name for row in report.rows] == [
        "discount: offer_for, SQLite file",
        "discount: claim_discount, SQLite file",
    ]


@pytest.mark.postgres
def test_postgres_discounts_benchmark_runs() -> None:
    report = discounts.run_postgres(postgres_url_or_skip(), discounts.Sizes(calls=6, rounds=2))
    _check(report, rows=2)
    assert [row.name for row in report.rows] == [
        "discount: offer_for, PostgreSQL",
        "discount: claim_discount, PostgreSQL",
    ]


@pytest.mark.postgres
def test_postgres_conversions_benchmark_runs() -> None:
    sizes = conversions.PgSizes(conversions=8, rounds=1, threads=(1, 2), referees=4)
    report = conversions.run_postgres(postgres_url_or_skip(), sizes)
    assert [line.ok for line in report.lines] == [True, True, True]
    assert "duplicate rewards: 0" in report.lines[-1].text


def test_main_writes_the_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes, "QUICK", codes.Sizes(codes=20, batch=10, rounds=2))
    output = tmp_path / "latest.md"
    assert main(["--quick", "--only", "codes", "--output", str(output)]) == 0
    assert "code: CodeCodec.parse" in capsys.readouterr().out
    assert "| code: resolve (user cached) |" in output.read_text()
