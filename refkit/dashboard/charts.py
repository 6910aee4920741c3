"""Server-side SVG charts: no JavaScript, no remote assets, readable by screen readers.

Every chart is an inline ``<svg role="img">`` (for HTML pages: it has no ``xmlns``) named by
its ``<title>`` (``aria-labelledby``) and described by its ``<desc>`` (``aria-describedby``: the
text alternative, what the chart shows in words and numbers), with a ``viewBox`` so it scales
to any width (the page gives it ``width: 100%``). Text is escaped; colours are presentation
attributes, so a chart looks the same wherever it is embedded. Each bar or point carries its
own ``<title>``: a browser shows it on hover.

::

    bar_chart("funnel", "Funnel", "Visits 120, signups 30.", [Bar("Visits", 120, "120"), ...])
    line_chart("revenue", "Revenue", "...", ["1 Mar", "2 Mar"], [Series("Revenue", [10, 20])])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup, escape

__all__ = [
    "Bar",
    "Interval",
    "Series",
    "bar_chart",
    "interval_chart",
    "legend",
    "line_chart",
    "nice_ceiling",
]

WIDTH = 400
#: Text size in drawing units (of :data:`WIDTH`): a chart drawn 330 CSS pixels wide (a 375 px
#: phone's card) writes its smallest text (``FONT - 1``) at 12 px at least.
FONT = 16
SMALL_FONT = FONT - 1
TEXT = "#1f2328"
MUTED = "#59636e"
GRID = "#d8dee4"
#: Series colours (blue, orange: distinguishable with the common colour-vision deficiencies),
#: and a dash pattern for the second, so colour is never the only difference.
COLOURS = ("#0969da", "#bc4c00", "#1a7f37", "#8250df")
DASHES = ("", "6 4", "2 3", "8 3 2 3")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: its ``label``, its ``value`` (for the length) and the value as ``shown``.

    ``note`` is a second, smaller line under the bar (for example the rate from the step
    before).
    """

    label: str
    value: float
    shown: str
    note: str = ""


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a :func:`line_chart`: a value per x label, and the values as ``shown``
    in hover titles (default: the numbers)."""

    name: str
    values: Sequence[float]
    shown: Sequence[str] = field(default_factory=tuple)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value`` (1 for 0)."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-9):
            return float(step * power)
    return float(10 * power)  # pragma: no cover


def _tick_format(step: float) -> Callable[[float], str]:
    """Thousands separators, and as many decimals as ticks ``step`` apart need."""
    places = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 else 0
    places += 1 if places and round(step, places) != step else 0

    def text(value: float) -> str:
        return f"{value:,.{places}f}"

    return text


def _number(value: float) -> str:
    """A coordinate: short, locale-free."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, description: str, height: float) -> list[str]:
    ident = escape(chart_id)
    return [
        f'<svg class="refkit-chart" id="{ident}" '
        f'role="img" aria-labelledby="{ident}-title" aria-describedby="{ident}-desc" '
        f'viewBox="0 0 {WIDTH} {_number(height)}" font-family="system-ui, sans-serif" '
        f'font-size="{FONT}" fill="{TEXT}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def bar_chart(chart_id: str, title: str, description: str, bars: Sequence[Bar]) -> Markup:
    """Horizontal bars, one per row, each label and value written above its bar.

    :param chart_id: a page-unique id (the title and description ids derive from it).
    :param description: the text alternative: the numbers the chart shows, in a sentence.
    """
    row = FONT * 1.3 + 22.0
    note_height = FONT * 1.2
    top = 4.0
    height = top + sum(row + (note_height if bar.note else 0.0) for bar in bars) + 4.0
    if not bars:
        height = 40.0
    parts = _open(chart_id, title, description, height)
    if not bars:
        parts.append(f'<text x="0" y="24" fill="{MUTED}">No data yet</text>')
    largest = max((bar.value for bar in bars), default=0.0)
    y = top
    for bar in bars:
        length = (bar.value / largest) * WIDTH if largest > 0 else 0.0
        baseline = y + FONT
        parts.append(
            f'<g class="bar" data-label="{escape(bar.label)}" data-value="{escape(bar.shown)}">'
        )
        parts.append(f"<title>{escape(bar.label)}: {escape(bar.shown)}</title>")
        parts.append(f'<text x="0" y="{_number(baseline)}">{escape(bar.label)}</text>')
        parts.append(
            f'<text x="{WIDTH}" y="{_number(baseline)}" text-anchor="end" '
            f'font-weight="600">{escape(bar.shown)}</text>'
        )
        bar_y = y + FONT * 1.3 + 4
        parts.append(
            f'<rect x="0" y="{_number(bar_y)}" width="{WIDTH}" height="14" rx="3" fill="{GRID}"/>'
        )
        if length > 0:
            parts.append(
                f'<rect x="0" y="{_number(bar_y)}" width="{_number(max(length, 2.0))}" '
                f'height="14" rx="3" fill="{COLOURS[0]}"/>'
            )
        y += row
        if bar.note:
            parts.append(
                f'<text x="0" y="{_number(y + FONT * 0.6)}" fill="{MUTED}" '
                f'font-size="{SMALL_FONT}">{escape(bar.note)}</text>'
            )
            y += note_height
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped


def line_chart(
    chart_id: str,
    title: str,
    description: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    axis: Callable[[float], str] | None = None,
    titles: Sequence[str] | None = None,
    height: float = 250.0,
) -> Markup:
    """Lines over time (or any ordered labels), on a shared y axis starting at zero.

    :param labels: the x labels, one per value of each series; the first, the middle and the
        last are written under the axis, all of them in the hover titles.
    :param axis: formats a y-axis tick (default: thousands separators, and the decimals the
        tick step needs). The axis runs from 0 to four or five "nice" steps (1, 2, 2.5 or 5
        times a power of ten), whichever covers the largest value more tightly.
    :param titles: the x labels in the hover titles, when longer than ``labels``.
    """
    count = len(labels)
    for line in series:
        if len(line.values) != count:
            raise ValueError(
                f"series {line.name!r} has {len(line.values)} values for {count} labels"
            )
    peak = max((max(line.values, default=0.0) for line in series), default=0.0)
    # four or five steps of a round size, whichever ends closer above the peak
    steps = [(nice_ceiling(peak / count) * count, count) for count in (4, 5)]
    top_value, count_of_steps = min(steps)
    step = top_value / count_of_steps
    ticks = [step * index for index in range(count_of_steps + 1)]
    tick_text = axis or _tick_format(step)
    left = max(len(tick_text(tick)) for tick in ticks) * FONT * 0.6 + 8
    right, top, bottom = 8.0, 10.0, FONT * 2.2
    plot_width = WIDTH - left - right
    plot_height = height - top - bottom

    def x_of(index: int) -> float:
        if count <= 1:
            return left + plot_width / 2
        return left + plot_width * index / (count - 1)

    def y_of(value: float) -> float:
        return top + plot_height * (1 - value / top_value)

    parts = _open(chart_id, title, description, height)
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line x1="{_number(left)}" x2="{_number(WIDTH - right)}" y1="{_number(y)}" '
            f'y2="{_number(y)}" stroke="{GRID}" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{_number(left - 6)}" y="{_number(y + FONT * 0.35)}" text-anchor="end" '
            f'fill="{MUTED}">{escape(tick_text(tick))}</text>'
        )
    shown_ticks = sorted({0, count // 2, count - 1}) if count else []
    for index in shown_ticks:
        anchor = "start" if index == 0 and count > 1 else "end" if index == count - 1 else "middle"
        if count == 1:
            anchor = "middle"
        parts.append(
            f'<text x="{_number(x_of(index))}" y="{_number(height - FONT * 0.5)}" '
            f'text-anchor="{anchor}" fill="{MUTED}">{escape(labels[index])}</text>'
        )
    dots = count <= 62
    hovered = titles if titles is not None and len(titles) == count else labels
    for number, line in enumerate(series):
        colour, dash = COLOURS[number % len(COLOURS)], DASHES[number % len(DASHES)]
        points = " ".join(
            f"{_number(x_of(i))},{_number(y_of(value))}" for i, value in enumerate(line.values)
        )
        parts.append(f'<g class="series" data-series="{escape(line.name)}">')
        if number == 0 and count > 1:  # a light area under the first series
            area = f"{_number(x_of(0))},{_number(y_of(0))} {points} "
            area += f"{_number(x_of(count - 1))},{_number(y_of(0))}"
            parts.append(f'<polygon points="{area}" fill="{colour}" fill-opacity="0.12"/>')
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" '
            f'stroke-linejoin="round"{dash_attr}/>'
        )
        if dots or count == 1:
            shown = line.shown or [tick_text(value) for value in line.values]
            for index, value in enumerate(line.values):
                parts.append(
                    f'<circle cx="{_number(x_of(index))}" cy="{_number(y_of(value))}" r="3.5" '
                    f'fill="{colour}"><title>{escape(hovered[index])}: {escape(line.name)} '
                    f"{escape(shown[index])}</title></circle>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped


def legend(series: Sequence[Series]) -> Markup:
    """An HTML legend for a :func:`line_chart`'s series: a line swatch (colour and dash) and
    the name of each. The swatches are decorative (``aria-hidden``): the chart's description
    names the series."""
    items = []
    for number, line in enumerate(series):
        colour, dash = COLOURS[number % len(COLOURS)], DASHES[number % len(DASHES)]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        items.append(
            '<li><svg aria-hidden="true" viewBox="0 0 24 8" width="24" height="8">'
            f'<line x1="0" x2="24" y1="4" y2="4" stroke="{colour}" stroke-width="3"{dash_attr}/>'
            f"</svg> {escape(line.name)}</li>"
        )
    return Markup(f'<ul class="refkit-legend">{"".join(items)}</ul>')  # noqa: S704 - escaped


@dataclass(frozen=True, slots=True)
class Interval:
    """One row of an :func:`interval_chart`: an estimate and its interval, as proportions
    (0 to 1), and how they are ``shown`` (for example ``"12.0% (7.0% to 19.8%)"``)."""

    label: str
    value: float
    low: float
    high: float
    shown: str


def interval_chart(chart_id: str, title: str, description: str, rows: Sequence[Interval]) -> Markup:
    """Intervals side by side on one axis from 0: a bar from each row's ``low`` to its
    ``high``, a mark at its ``value``, the label and the numbers written above it. Rows
    compare at a glance: intervals that overlap little differ more surely.
    """
    row_height = FONT * 1.3 + 26.0
    top, axis_height = 4.0, FONT * 1.6
    height = top + row_height * len(rows) + axis_height + 4.0 if rows else 40.0
    parts = _open(chart_id, title, description, height)
    if not rows:
        parts.append(f'<text x="0" y="24" fill="{MUTED}">No data yet</text>')
    scale = min(1.0, nice_ceiling(max((row.high for row in rows), default=1.0)))

    def x_of(value: float) -> float:
        return WIDTH * min(max(value, 0.0), scale) / scale

    y = top
    for number, row in enumerate(rows):
        colour = COLOURS[number % len(COLOURS)]
        baseline = y + FONT
        parts.append(
            f'<g class="interval" data-label="{escape(row.label)}" '
            f'data-value="{escape(row.shown)}">'
        )
        parts.append(f"<title>{escape(row.label)}: {escape(row.shown)}</title>")
        parts.append(f'<text x="0" y="{_number(baseline)}">{escape(row.label)}</text>')
        parts.append(
            f'<text x="{WIDTH}" y="{_number(baseline)}" text-anchor="end" '
            f'font-weight="600">{escape(row.shown)}</text>'
        )
        bar_y = y + FONT * 1.3 + 6
        parts.append(
            f'<rect x="0" y="{_number(bar_y)}" width="{WIDTH}" height="14" rx="3" fill="{GRID}"/>'
        )
        left, right = x_of(row.low), x_of(row.high)
        parts.append(
            f'<rect x="{_number(left)}" y="{_number(bar_y)}" '
            f'width="{_number(max(right - left, 2.0))}" height="14" rx="3" fill="{colour}" '
            'fill-opacity="0.35"/>'
        )
        mark = x_of(row.value)
        parts.append(
            f'<line x1="{_number(mark)}" x2="{_number(mark)}" y1="{_number(bar_y - 3)}" '
            f'y2="{_number(bar_y + 17)}" stroke="{colour}" stroke-width="3"/>'
        )
        parts.append("</g>")
        y += row_height
    if rows:
        for tick in (0.0, scale / 2, scale):
            anchor = "start" if tick == 0 else "end" if tick == scale else "middle"
            parts.append(
                f'<text x="{_number(x_of(tick))}" y="{_number(y + FONT)}" text-anchor="{anchor}" '
                f'fill="{MUTED}">{escape(f"{tick:.0%}" if scale >= 0.1 else f"{tick:.1%}")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every piece of text above is escaped
