"""Interleaved timing and the rows every benchmark reports."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Batch", "PgLine", "Report", "Row", "best", "interleaved", "median", "ratio"]

#: One timed batch: gets the round number, does the work, returns how many operations it did.
Batch = Callable[[int], int]


@dataclass(frozen=True)
class Row:
    """One line of the results table.

    ``refkit`` and ``baseline`` are in ``unit``; ``ratio`` is always refkit's cost over the
    baseline's (time over time, or baseline throughput over refkit throughput; see
    :func:`ratio`), so lower is better and ``target`` is the largest acceptable ratio
    (``None``: reported, no target). A figure with no baseline (a query's time at a given
    size) has an absolute target instead: ``at_most``, the largest acceptable ``refkit`` value
    in ``unit``.
    """

    name: str
    refkit: float
    baseline: float | None
    unit: str
    ratio: float | None
    target: float | None = None
    #: what the baseline does, for the legend under the table
    baseline_is: str = ""
    #: an absolute target (a time or a cost in ``unit``), for rows without a baseline
    at_most: float | None = None

    @property
    def met(self) -> bool | None:
        if self.at_most is not None:
            return self.refkit <= self.at_most
        if self.target is None or self.ratio is None:
            return None
        return self.ratio <= self.target


@dataclass(frozen=True)
class PgLine:
    """One line under the table (PostgreSQL throughput, growth with data size) and whether
    the check it reports, if any (no duplicate rewards, a consistent seed), passed."""

    text: str
    ok: bool = True


@dataclass
class Report:
    """What one benchmark module returns."""

    rows: list[Row] = field(default_factory=list)
    lines: list[PgLine] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def interleaved(
    batches: dict[str, Batch], rounds: int, *, collect: bool = True
) -> dict[str, list[float]]:
    """Run every batch once per round, for ``rounds`` rounds; the seconds per operation of
    each round, by name.

    The order rotates every round so no batch always runs first or right after the same
    neighbour (warm caches, a busy machine), and all batches, the baseline included, share
    the same stretches of noise. With ``collect=False`` (for short CPU-bound batches) the
    garbage collector is paused during each batch, as :mod:`timeit` does; otherwise a full
    collection runs before each batch.
    """
    gc.collect()
    names = list(batches)
    times: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_timed(batches[name], index, collect))
    return times


def _timed(batch: Batch, index: int, collect: bool) -> float:
    if collect:
        gc.collect()
    else:
        gc.disable()
    try:
        start = time.perf_counter()
        count = batch(index)
        elapsed = time.perf_counter() - start
    finally:
        gc.enable()
    if count <= 0:
        raise ValueError("a batch must do at least one operation")
    return elapsed / count


def best(times: list[float]) -> float:
    """The fastest round: for CPU-bound micro-benchmarks (noise only ever adds time)."""
    return min(times)


def median(times: list[float]) -> float:
    """The middle round: for I/O-bound work, where the fastest round can be a fluke."""
    return statistics.median(times)


def ratio(subject: list[float], baseline: list[float]) -> float:
    """The median over rounds of subject time / baseline time *in the same round*: a busy
    stretch slows both sides of a round alike, so this is steadier than either side's best."""
    return statistics.median(mine / theirs for mine, theirs in zip(subject, baseline, strict=True))
