"""``python -m bench [--quick] [--only NAME]``: run the benchmarks, print one table, and write
it to ``bench/results/latest.md``. Exits 1 only if a correctness check fails (duplicate
rewards); a missed ratio target shows as ``NO`` in the table."""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from . import codes, conversions, discounts, flask_views, pinax, scale
from .harness import Report
from .pg import postgres_url
from .report import markdown, text_table

RESULTS = Path(__file__).resolve().parent / "results" / "latest.md"


def _codes(quick: bool) -> Report:
    return codes.run(codes.QUICK if quick else codes.FULL)


def _sqlite(quick: bool) -> Report:
    report = conversions.run_sqlite(conversions.SQLITE_QUICK if quick else conversions.SQLITE_FULL)
    return _joined(report, discounts.run_sqlite(discounts.QUICK if quick else discounts.FULL))


def _joined(first: Report, second: Report) -> Report:
    """One report of two modules' rows, lines and notes."""
    return Report(
        rows=first.rows + second.rows,
        lines=first.lines + second.lines,
        notes=first.notes + second.notes,
    )


def _postgres(quick: bool) -> Report:
    url, note = postgres_url()
    if url is None:
        return Report(notes=[note])
    report = conversions.run_postgres(url, conversions.PG_QUICK if quick else conversions.PG_FULL)
    return _joined(
        report, discounts.run_postgres(url, discounts.QUICK if quick else discounts.FULL)
    )


def _flask(quick: bool) -> Report:
    return flask_views.run(quick)


def _pinax(quick: bool) -> Report:
    return pinax.run(quick)


def _scale(quick: bool) -> Report:
    return scale.run(quick)


BENCHMARKS: dict[str, Callable[[bool], Report]] = {
    "codes": _codes,
    "sqlite": _sqlite,
    "postgres": _postgres,
    "flask": _flask,
    "pinax": _pinax,
    "scale": _scale,
}
#: What ``--only`` accepts: a module's name runs all its parts.
SELECTIONS = {
    "codes": ("codes",),
    "conversions": ("sqlite", "postgres"),
    "sqlite": ("sqlite",),
    "postgres": ("postgres",),
    "flask": ("flask",),
    "pinax": ("pinax",),
    "scale": ("scale",),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller batches")
    parser.add_argument(
        "--only",
        choices=list(SELECTIONS),
        action="append",
        metavar="NAME",
        help="run only NAME (repeatable): codes, conversions (= sqlite + postgres), sqlite, "
        "postgres, flask (in process and under gunicorn + wrk), pinax (pinax-referrals in its "
        "own virtualenv, built on first use), scale (10k to 1M rows)",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="the Markdown file")
    options = parser.parse_args(argv)
    total = Report()
    chosen = [name for only in options.only or SELECTIONS for name in SELECTIONS[only]]
    for name in dict.fromkeys(chosen):
        print(f"bench: running {name}...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        report = BENCHMARKS[name](options.quick)
        print(f"bench: {name} took {time.perf_counter() - start:.1f} s", file=sys.stderr)
        total.rows += report.rows
        total.lines += report.lines
        total.notes += report.notes
    header = (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {'quick' if options.quick else 'full'} run; "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.machine()} with {os.cpu_count() or '?'} CPUs. refkit and its baseline run "
        "in interleaved rounds in one process: ratio = median over rounds of refkit/baseline "
        "in the same round (lower is better); each module's note says which round its "
        "figures are (best for CPU-bound µs, median for I/O-bound rates)."
    )
    print(header)
    print()
    print(text_table(total.rows, total.lines, total.notes))
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(markdown(total.rows, total.lines, total.notes, header))
    print(f"\nwritten to {options.output}", file=sys.stderr)
    return 0 if all(line.ok for line in total.lines) else 1


if __name__ == "__main__":
    sys.exit(main())
