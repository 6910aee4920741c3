"""The dashboard's experiment panel: an A/B test's variants side by side
(:meth:`refkit.ReferralProgram.experiment_report`), each conversion rate with its 95%
interval drawn (:func:`refkit.dashboard.charts.interval_chart`), and each p-value against the
control said in plain words.

Only for a program whose rules are a :class:`refkit.Experiment`; :func:`experiment_panel`
returns ``None`` otherwise. Every name (the experiment's key, the variants') is escaped by
the chart and by the template.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup

from refkit import ExperimentReport, ReferralProgram, VariantReport

from .charts import Interval, interval_chart
from .formatting import format_ratio

__all__ = ["SIGNIFICANCE", "ExperimentPanel", "experiment_panel", "format_p", "verdict"]

#: The p-value under which a difference is called significant (the usual 5%, matching the
#: 95% intervals).
SIGNIFICANCE = 0.05


@dataclass(frozen=True, slots=True)
class ExperimentPanel:
    """What the panel shows: the report, the chart, and a verdict per variant."""

    report: ExperimentReport
    chart: Markup
    #: (variant report, its rate and interval as text, its verdict), the control first
    rows: tuple[tuple[VariantReport, str, str], ...]


def format_p(p_value: float) -> str:
    """``p = 0.41``, ``p = 0.012`` (three decimals below 0.1), ``p < 0.001``."""
    if p_value < 0.001:
        return "p < 0.001"
    return f"p = {p_value:.3f}" if p_value < 0.1 else f"p = {p_value:.2f}"


def verdict(entry: VariantReport, control: VariantReport) -> str:
    """The comparison of ``entry`` with the control, in plain words."""
    if entry.variant == control.variant:
        return "control: the others are compared with it"
    if entry.p_value is None:
        return "not enough data for a test yet"
    if entry.p_value < SIGNIFICANCE:
        direction = "better" if entry.conversion_rate > control.conversion_rate else "worse"
        return (
            f"converts {direction} than {control.variant}: a significant difference "
            f"({format_p(entry.p_value)})"
        )
    return f"no significant difference yet ({format_p(entry.p_value)})"


def _shown(entry: VariantReport) -> str:
    if not entry.signups:
        return "no signups yet"
    low, high = format_ratio(entry.conversion_low), format_ratio(entry.conversion_high)
    return f"{format_ratio(entry.conversion_rate)} ({low} to {high})"


def experiment_panel(program: ReferralProgram) -> ExperimentPanel | None:
    """The panel of the program's experiment, or ``None`` when it runs none."""
    if program.experiment is None:
        return None
    report = program.experiment_report()
    control = report.variants[0]
    rows = tuple((entry, _shown(entry), verdict(entry, control)) for entry in report.variants)
    intervals = [
        Interval(
            entry.variant, entry.conversion_rate, entry.conversion_low, entry.conversion_high, text
        )
        for entry, text, _ in rows
    ]
    words = "; ".join(
        f"{entry.variant}: {text} of {entry.signups:,} signups bought, {judged}"
        for entry, text, judged in rows
    )
    description = (
        f"Conversion rate of each variant of experiment {report.key}, with its 95% interval: "
        f"{words}."
    )
    chart = interval_chart(
        "refkit-experiment-chart",
        f"Experiment {report.key}: conversion rate by variant",
        description,
        intervals,
    )
    return ExperimentPanel(report=report, chart=chart, rows=rows)
