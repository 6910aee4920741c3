"""Checks the benchmark smoke tests share (no timing assertions: see bench/__init__.py)."""

from __future__ import annotations

from collections.abc import Iterable

from bench.harness import Row


def assert_measured(rows: Iterable[Row]) -> None:
    """Every row has a positive figure, a positive baseline and a positive ratio."""
    for row in rows:
        assert row.refkit > 0
        assert row.baseline is not None
        assert row.baseline > 0
        assert row.ratio is not None
        assert row.ratio > 0
