"""The results table, as aligned text for the terminal and as Markdown for the file."""

from __future__ import annotations

from collections.abc import Sequence

from .harness import PgLine, Row

__all__ = ["HEADERS", "cells", "markdown", "text_table"]

HEADERS = ("benchmark", "refkit", "baseline", "ratio", "target", "met?")


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "µs" or (unit == "ms" and value < 100):
        return f"{value:.2f} {unit}" if value < 10 else f"{value:.1f} {unit}"
    return f"{value:,.0f} {unit}"


def _target(row: Row) -> str:
    if row.at_most is not None:
        return f"<= {row.at_most:g} {row.unit}"
    return "-" if row.target is None else f"<= {row.target:g}"


def cells(row: Row) -> tuple[str, ...]:
    """One row's cells, in :data:`HEADERS` order."""
    met = {True: "yes", False: "NO", None: "-"}[row.met]
    return (
        row.name,
        _value(row.refkit, row.unit),
        _value(row.baseline, row.unit),
        "-" if row.ratio is None else f"{row.ratio:.2f}",
        _target(row),
        met,
    )


def _legend(rows: Sequence[Row]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        if row.baseline_is:
            seen.setdefault(row.baseline_is)
    return [f"baseline: {text}" for text in seen]


def text_table(rows: Sequence[Row], lines: Sequence[PgLine], notes: Sequence[str]) -> str:
    """The table with its legend, the lines of figures and the notes, for printing."""
    table = [HEADERS, *(cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    right = {1, 2, 3}

    def fmt(line: tuple[str, ...]) -> str:
        return "  ".join(
            cell.rjust(width) if i in right else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ).rstrip()

    out = []
    if rows:
        out += [fmt(HEADERS), "  ".join("-" * width for width in widths)]
        out += [fmt(line) for line in table[1:]]
        out += ["", *_legend(rows)]
    if lines:
        out += ["", *(line.text for line in lines)]
    if notes:
        out += ["", *(f"note: {note}" for note in notes)]
    return "\n".join(out).strip("\n")


def markdown(
    rows: Sequence[Row], lines: Sequence[PgLine], notes: Sequence[str], header: str
) -> str:
    """The same as a Markdown document."""
    out = ["# refkit benchmarks", "", header]
    if rows:
        out += ["", "| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|:---:|:---:|"]
        out += ["| " + " | ".join(cells(row)) + " |" for row in rows]
        out += ["", *(f"- {text}" for text in _legend(rows))]
    if lines:
        out += ["", "## More figures", "", *(f"- {line.text}" for line in lines)]
    if notes:
        out += ["", "## Notes", "", *(f"- {note}" for note in notes)]
    return "\n".join(out) + "\n"
