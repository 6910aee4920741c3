"""The admin dashboard: ``{url_prefix}/admin`` and its pages, for ``@refkit.admin_check`` users.

===========================================  ===================================================
``GET  /admin``                              the dashboard (``?days=7|30|90|365|all``,
                                             ``?by=day|week``)
``GET  /admin/referrer?id=<user id>``        one referrer: referrals, orders, reward ledger
``POST /admin/rewards/<id>/approve``         approve a pending reward now
``POST /admin/rewards/<id>/revoke``          revoke a pending reward
``POST /admin/rewards/approve-due``          approve every reward whose hold period has passed
``POST /admin/payouts``                      record a payout (``user``, ``amount``, ``currency``,
                                             ``reference``: the same reference twice records one)
===========================================  ===================================================

Everyone else gets 403. The forms carry a per-session CSRF token (kept in Flask's session, so
the app needs ``SECRET_KEY``; without one the page says so and shows no buttons), and a POST
answers with a redirect back to the dashboard (post/redirect/get) whose query string says what
happened, to its ``#notice``, which takes the focus. Pages are server-rendered, charts are
inline SVG (:mod:`refkit_flask.charts`), and nothing loads from elsewhere: the dashboard works
offline and without JavaScript.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup

from refkit import ConflictError, ReferralProgram, ValidationError

from . import dashboard, failures
from .charts import Bar, Series, bar_chart, legend, line_chart
from .dashboard import CampaignRow, Funnel, FunnelStep, MoneyOverTime, Period
from .experiment_panel import experiment_panel
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
from .state import Extension, get_state

__all__ = ["CSRF_FIELD", "CSRF_SESSION_KEY", "csrf_token", "register_admin"]

#: The session key holding the admin forms' CSRF token, and the form field that echoes it.
CSRF_SESSION_KEY = "_refkit_csrf"
CSRF_FIELD = "csrf_token"
#: The outcomes a POST reports back to the dashboard (``?done=...``).
NOTICES = {
    "approved": "Reward #{reward} approved.",
    "revoked": "Reward #{reward} revoked.",
    "unchanged": "Reward #{reward} was no longer pending, so nothing changed.",
    "approved_due": "Approved {count} reward{s} whose hold period had passed.",
    "cleared": "Cleared {count} flag{s}: the referral's rewards are approved as usual.",
    "paid_out": "Payout recorded: the balance is lower by the amount paid.",
}
#: The most balances the dashboard lists for payout (``flask refkit balances`` lists all).
MAX_BALANCES = 50
F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str | None:
    """This session's token for the admin forms (made on first use); ``None`` without a
    ``SECRET_KEY``, as Flask then has no session to keep it in."""
    if not current_app.secret_key:
        return None
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def _check_csrf() -> None:
    expected = session.get(CSRF_SESSION_KEY) if current_app.secret_key else None
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "The form expired or did not come from this dashboard: reload it and try again.")


def _no_store(page: str) -> Response:
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_admin(blueprint: Blueprint, extension: Extension) -> None:
    """Add the admin pages to the refkit blueprint of one app."""

    def admin_only(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not extension.is_admin():
                abort(403)
            if request.method == "POST":
                _check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapper)

    @blueprint.get("/admin")
    @admin_only
    def admin() -> Response:
        program = get_state().program
        shown = dashboard.period(program.clock(), request.args.get("days"), request.args.get("by"))
        failed = failures.failure_log(current_app).recent(program.clock())
        context = _dashboard(program, shown)
        return _no_store(render_template("refkit/admin.html", **context, failures=failed))

    @blueprint.get("/admin/referrer")
    @admin_only
    def referrer() -> Response:
        user_id = request.args.get("id", "")
        try:
            report = dashboard.referrer_report(get_state().program, user_id)
        except ValidationError:
            abort(404, "There is no such user id.")
        currency = dashboard.primary_currency(get_state().program)
        context = {**_helpers(), "report": report, "currency": currency}
        context["chart"] = _referrer_chart(report)
        return _no_store(render_template("refkit/referrer.html", **context))

    @blueprint.post("/admin/rewards/<int:reward_id>/<any(approve, revoke):action>")
    @admin_only
    def decide(reward_id: int, action: str) -> Response:
        program = get_state().program
        changed = program.approve(reward_id) if action == "approve" else program.revoke(reward_id)
        done = "unchanged" if changed is None else f"{action}d"
        return _back(done=done, reward=str(reward_id))

    @blueprint.post("/admin/rewards/approve-due")
    @admin_only
    def approve_due() -> Response:
        approved = get_state().program.approve_due()
        return _back(done="approved_due", count=str(len(approved)))

    @blueprint.post("/admin/payouts")
    @admin_only
    def pay_out() -> Response:
        form = request.form
        try:
            get_state().program.pay_out(
                form.get("user", ""),
                form.get("amount", ""),
                form.get("currency", ""),
                reference=form.get("reference", ""),
            )
        except (ValidationError, ConflictError) as error:  # InsufficientBalance included
            abort(400, f"The payout was not recorded: {' '.join(str(error).split())}")
        return _back(done="paid_out")

    @blueprint.post("/admin/referrals/clear")
    @admin_only
    def clear_flags() -> Response:
        try:
            cleared = get_state().program.clear_flags(request.form.get("referee", ""))
        except ValidationError:
            abort(400, "There is no such referee.")
        return _back(done="cleared", count=str(cleared))


def _back(**outcome: Any) -> Response:
    """Redirect to the dashboard, in the period the form was sent from, saying what happened.

    The target is the notice (``#notice``, focusable with ``tabindex="-1"``): the browser
    scrolls to it and moves the focus there, so the confirmation is in view and a keyboard
    or screen reader user goes on from it instead of from the top of the page."""
    days, by = request.form.get("days"), request.form.get("by")
    keep = {
        "days": days if days in dashboard.PERIODS else None,
        "by": by if by in dashboard.BUCKETS else None,
    }
    params: dict[str, Any] = {key: value for key, value in keep.items() if value is not None}
    target = url_for(".admin", **params, **outcome, _anchor="notice")
    return cast(Response, redirect(target, code=303))


def _notice() -> str | None:
    """The message for ``?done=...`` (only from the fixed texts, with numbers checked)."""
    template = NOTICES.get(request.args.get("done", ""))
    numbers = {}
    for name in ("reward", "count"):
        raw = request.args.get(name, "0")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 12):
            return None
        numbers[name] = int(raw)
    if template is None:
        return None
    return template.format(**numbers, s="" if numbers["count"] == 1 else "s")


# -- the page's data, charts and helpers ---------------------------------------------------


def user_label(user_id: object) -> str:
    """Plain text naming a user for an attribute or a title: ``"Alice Martin (42)"`` with a
    ``@refkit.display_name``, the id alone without one."""
    name = get_state().extension.user_name(str(user_id))
    return str(user_id) if name is None else f"{name} ({user_id})"


def _helpers() -> dict[str, Any]:
    return {
        "user_name": get_state().extension.user_name,
        "user_label": user_label,
        "csrf_token": csrf_token,
        "csrf_field": CSRF_FIELD,
        "count": format_count,
        "money": format_money,
        "signed_money": format_signed_money,
        "money_totals": format_money_totals,
        "rate": format_rate,
        "ratio": format_ratio,
        "day": format_date,
        "moment": format_datetime,
    }


def _dashboard(program: ReferralProgram, shown: Period) -> dict[str, Any]:
    used = dashboard.currencies(program)
    currency = dashboard.primary_currency(program, used)
    funnel = dashboard.funnel(program, shown)
    money = dashboard.money_over_time(program, shown, currency)
    campaigns = dashboard.campaigns(program, shown, currency)
    due = dashboard.rewards_due(program)
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
    periods = [(key, "All time" if key == "all" else f"{key} days") for key in dashboard.PERIODS]
    return {
        **_helpers(),
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
        "leaders": dashboard.top_referrers(program),
        "campaigns": campaigns,
        "campaign_chart": _campaign_chart(campaigns, currency),
        "channels": dashboard.channels(program, shown),
        "due": due,
        "flagged": dashboard.flagged_referrals(program),
        "experiment": experiment_panel(program),
        "balances": program.balances()[:MAX_BALANCES],
        "payout_nonce": secrets.token_hex(4),
        "notice": _notice(),
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


def _referrer_chart(report: dashboard.ReferrerReport) -> Markup:
    stats = report.stats
    steps = [
        ("Visits", stats.visits, ""),
        ("Signups", stats.signups, ""),  # no rate: a signup need not follow a visit
        ("Bought", report.buyers, f"{format_rate(report.buyers, stats.signups)} of signups"),
    ]
    bars = [Bar(label, float(value), format_count(value), note) for label, value, note in steps]
    words = ", ".join(f"{label} {format_count(value)}" for label, value, _ in steps)
    who = user_label(report.user_id)
    return bar_chart(
        "refkit-referrer-chart", f"{who}'s referrals", f"{who}'s funnel: {words}.", bars
    )
