"""The dashboard's pages as data for a template: the same for every framework.

:func:`dashboard_context` and :func:`referrer_context` return what the templates in
``refkit/dashboard/templates/refkit/`` (Jinja; :data:`TEMPLATES`) need, charts included,
built from the program's public read model (``refkit.dashboard.data``) and the SVG
charts (``refkit.dashboard.charts``). A framework adds three things: ``url_for(endpoint,
**params)`` for the links and forms (endpoints ``.admin``, ``.referrer``, ``.decide``,
``.approve_due``, ``.pay_out``, ``.clear_flags``, ``refkit.referrer`` and
``refkit.static``), ``csrf_token()`` and ``csrf_field``, and the recent ``failures``
(:class:`~refkit.dashboard.failures.RecentFailures`). It hands the pages the shop's people
names as ``name``: a function from a user id to the name to show, or ``None`` (the id is
shown), usually a :class:`~refkit.dashboard.names.Names` made for the request.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from markupsafe import Markup

from refkit import ReferralProgram

from . import data
from .charts import Bar, Series, bar_chart, legend, line_chart
from .data import CampaignRow, Funnel, FunnelStep, MoneyOverTime, Period
from .experiment import experiment_panel
from .formatting import (
    format_count,
    format_date,
    format_datetime,
    format_money,
    format_money_totals,
    format_rate,
    format_ratio,
    format_short_date,
    format_signed_money,
)
from .names import user_label

__all__ = [
    "MAX_BALANCES",
    "NOTICES",
    "SECURITY_HEADERS",
    "STATIC",
    "TEMPLATES",
    "NameFunction",
    "dashboard_context",
    "formatters",
    "funnel_note",
    "notice",
    "referrer_context",
]

#: The Jinja templates of the pages (``refkit/admin.html``, ``refkit/referrer.html``) and
#: their stylesheet (``admin.css``).
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"
#: The headers the dashboard's pages are sent with: a strict Content-Security-Policy the pages
#: pass (no script, styles only from refkit's own stylesheet, no framing, forms posting only
#: to the same origin), ``nosniff`` and a ``Referrer-Policy``. ``img-src data:`` is for
#: nothing today but keeps inline SVG data images possible; the charts are inline ``<svg>``
#: elements styled by presentation attributes, which a CSP does not restrict.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: The outcomes a POST reports back to the dashboard (``?done=...``).
NOTICES = {
    "approved": "Reward #{reward} approved.",
    "revoked": "Reward #{reward} revoked.",
    "unchanged": "Reward #{reward} was no longer pending, so nothing changed.",
    "approved_due": "Approved {count} reward{s} whose hold period had passed.",
    "cleared": "Cleared {count} flag{s}: the referral's rewards are approved as usual.",
    "paid_out": "Payout recorded: the balance is lower by the amount paid.",
}
#: The most balances the dashboard lists for payout (``refkit balances`` lists all).
MAX_BALANCES = 50
#: ``(user_id) -> name or None``: how the pages name people (see :mod:`refkit.dashboard.names`).
NameFunction = Callable[[str], str | None]


def _no_name(user_id: str) -> str | None:
    return None


def notice(args: Mapping[str, str]) -> str | None:
    """The message for ``?done=...`` (only from the fixed texts, with numbers checked)."""
    template = NOTICES.get(args.get("done", ""))
    numbers = {}
    for name in ("reward", "count"):
        raw = args.get(name, "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
            return None
        numbers[name] = int(raw)
    if template is None:
        return None
    return template.format(**numbers, s="" if numbers["count"] == 1 else "s")


def formatters(name: NameFunction | None = None) -> dict[str, Any]:
    """The templates' formatting helpers (money, counts, rates, dates), and how they name
    people: ``user_name(id)`` (the name or ``None``) and ``user_label(id)`` (``"Alice (42)"``
    or the id), from ``name``."""
    named = name or _no_name
    return {
        "user_name": named,
        "user_label": lambda user_id: user_label(named, user_id),
        "count": format_count,
        "money": format_money,
        "signed_money": format_signed_money,
        "money_totals": format_money_totals,
        "rate": format_rate,
        "ratio": format_ratio,
        "day": format_date,
        "moment": format_datetime,
    }


def dashboard_context(
    program: ReferralProgram,
    shown: Period,
    *,
    done: str | None = None,
    name: NameFunction | None = None,
) -> dict[str, Any]:
    """Everything ``refkit/admin.html`` shows for the period ``shown``
    (:func:`refkit.dashboard.data.period`); ``done`` is the :func:`notice` to show, ``name``
    names people (see :func:`formatters`)."""
    used = data.currencies(program)
    currency = data.primary_currency(program, used)
    funnel = data.funnel(program, shown)
    money = data.money_over_time(program, shown, currency)
    campaigns = data.campaigns(program, shown, currency)
    due = data.rewards_due(program)
    summary = funnel.summary
    numbers = [
        ("referrers", "Referrers", format_count(summary.referrers), "users with a code"),
        ("visits", "Visits", format_count(summary.visits), None),
        ("signups", "Signups", format_count(summary.signups), None),
        ("conversions", "Orders", format_count(summary.conversions), "by referred customers"),
        (
            "conversion_rate",
            "Conversion rate",
            format_ratio(summary.conversion_rate),
            "of these signups, have bought",
        ),
        ("revenue", "Revenue", format_money_totals(money.revenue, currency), "net of refunds"),
        ("reward_cost", "Reward cost", format_money_totals(money.reward_cost, currency), None),
        ("k_factor", "K-factor", f"{funnel.k_factor:.2f}", "signups per referrer"),
        ("due_rewards", "Rewards due", format_count(due.count), "past the hold period"),
    ]
    periods = [(key, "All time" if key == "all" else f"{key} days") for key in data.PERIODS]
    return {
        **formatters(name),
        "period": shown,
        "periods": periods,
        "buckets": [("day", "By day"), ("week", "By week")],
        "currency": currency,
        "mixed_currencies": len(used) > 1,
        "numbers": numbers,
        "funnel": funnel,
        "funnel_note": funnel_note,
        "funnel_chart": _funnel_chart(funnel, shown),
        "money_series": money,
        "money_chart": _money_chart(money, shown),
        "money_legend": legend([Series("Revenue", ()), Series("Reward cost", ())]),
        "money_rows": [p for p in money.points if p.revenue or p.reward_cost],
        "leaders": data.top_referrers(program),
        "campaigns": campaigns,
        "campaign_chart": _campaign_chart(campaigns, currency),
        "channels": data.channels(program, shown),
        "due": due,
        "flagged": data.flagged_referrals(program),
        "experiment": experiment_panel(program),
        "balances": program.balances()[:MAX_BALANCES],
        "payout_nonce": secrets.token_hex(4),
        "notice": done,
    }


def referrer_context(
    program: ReferralProgram, user_id: str, *, name: NameFunction | None = None
) -> dict[str, Any]:
    """Everything ``refkit/referrer.html`` shows for one referrer (``name`` names people, see
    :func:`formatters`).

    :raises refkit.ValidationError: ``user_id`` is not a valid user id.
    """
    report = data.referrer_report(program, user_id)
    currency = data.primary_currency(program)
    return {
        **formatters(name),
        "report": report,
        "currency": currency,
        "chart": _referrer_chart(report, user_label(name or _no_name, report.user_id)),
    }


def funnel_note(funnel: Funnel, step: FunnelStep) -> str:
    """``"40.0% of signups"``: the step's cohort rate in words (``""``: it has none)."""
    if step.of is None:
        return ""
    base = next(s for s in funnel.steps if s.key == step.of)
    rate = "\u2013" if step.rate is None else format_ratio(step.rate)
    return f"{rate} of {base.label.lower()}"


def _funnel_chart(funnel: Funnel, shown: Period) -> Markup:
    bars, words = [], []
    for step in funnel.steps:
        note = funnel_note(funnel, step)
        bars.append(Bar(step.label, float(step.count), format_count(step.count), note))
        words.append(f"{step.label} {format_count(step.count)}" + (f" ({note})" if note else ""))
    description = f"The referral funnel, {shown.label.lower()}: " + ", ".join(words) + "."
    return bar_chart(
        "refkit-funnel-chart", f"Referral funnel, {shown.label.lower()}", description, bars
    )


def _amount(value: Decimal, currency: str | None) -> str:
    """Money in the shop's currency; a bare number when no currency is known yet (a program
    with no orders and no fixed rewards), never "points"."""
    return format_money(value, currency) if currency else f"{value:,}"


def _bucket_label(money: MoneyOverTime, index: int, *, short: bool) -> str:
    start = money.points[index].start
    if short:
        return format_short_date(start)
    return f"Week of {format_date(start)}" if money.by == "week" else format_date(start)


def _money_chart(money: MoneyOverTime, shown: Period) -> Markup:
    currency = money.currency
    points = money.points
    revenue = [float(p.revenue) for p in points]
    cost = [float(p.reward_cost) for p in points]
    unit = currency or "money"
    title = f"Revenue and reward cost by {money.by}, in {unit}"
    if not points:
        description = "No referred orders yet."
    else:
        first, last = format_date(points[0].start), format_date(points[-1].start)
        total_revenue = sum((p.revenue for p in points), Decimal(0))
        total_cost = sum((p.reward_cost for p in points), Decimal(0))
        best = max(points, key=lambda p: (p.revenue, p.start))
        description = (
            f"Revenue from referred customers and the cost of their rewards, by {money.by} "
            f"(UTC), from {first} to {last}: revenue {_amount(total_revenue, currency)} in "
            f"total, reward cost {_amount(total_cost, currency)}."
        )
        if best.revenue:
            label = "the week of " if money.by == "week" else ""
            description += (
                f" The best {money.by} was {label}{format_date(best.start)}, with "
                f"{_amount(best.revenue, currency)} of revenue."
            )
    labels = [_bucket_label(money, i, short=True) for i in range(len(points))]
    hover = [_bucket_label(money, i, short=False) for i in range(len(points))]
    series = [
        Series("revenue", revenue, [_amount(p.revenue, currency) for p in points]),
        Series("reward cost", cost, [_amount(p.reward_cost, currency) for p in points]),
    ]
    return line_chart("refkit-money-chart", title, description, labels, series, titles=hover)


def _campaign_chart(rows: list[CampaignRow], currency: str | None) -> Markup:
    bars = []
    for row in rows[:8]:
        amount = row.totals.revenue.get(currency, Decimal(0)) if currency else Decimal(0)
        note = (
            f"{format_count(row.totals.signups)} signups, {format_count(row.totals.buyers)} bought"
        )
        bars.append(Bar(row.name, float(amount), _amount(amount, currency), note))
    words = "; ".join(f"{b.label}: {b.shown} ({b.note})" for b in bars)
    description = f"Revenue from referred customers by campaign: {words or 'no campaigns yet'}."
    return bar_chart(
        "refkit-campaign-chart", f"Revenue by campaign, in {currency or 'money'}", description, bars
    )


def _referrer_chart(report: data.ReferrerReport, who: str) -> Markup:
    stats = report.stats
    steps = [
        ("Visits", stats.visits, ""),
        ("Signups", stats.signups, ""),  # no rate: a signup need not follow a visit
        ("Bought", report.buyers, f"{format_rate(report.buyers, stats.signups)} of signups"),
    ]
    bars = [Bar(label, float(value), format_count(value), note) for label, value, note in steps]
    words = ", ".join(f"{label} {format_count(value)}" for label, value, _ in steps)
    return bar_chart(
        "refkit-referrer-chart", f"{who}'s referrals", f"{who}'s funnel: {words}.", bars
    )
