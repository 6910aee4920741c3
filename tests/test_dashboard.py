"""The admin dashboard: the data behind each panel, the pages, and the approve/revoke forms.

Most tests run on :func:`seed_story`, a small program whose every number is worked out by hand
in its docstring. The panels' data comes from :mod:`refkit_flask.dashboard` (plain records); the
pages are read through Flask's test client.
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient

import refkit
from refkit.dashboard import charts
from refkit.dashboard import data as dashboard
from refkit.dashboard.formatting import (
    format_date,
    format_money,
    format_money_totals,
    format_rate,
    format_signed_money,
)

from .support.api_shop import RULES, START, make_app, program_of
from .support.settings import SECRET
from .support.story import ago, seed_story

ADMIN = {"X-User": "admin"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path, refkit.FrozenClock(START))
    try:
        yield app
    finally:
        program_of(app).store.close()


@pytest.fixture
def program(app: Flask) -> refkit.ReferralProgram:
    return program_of(app)


@pytest.fixture
def story(program: refkit.ReferralProgram) -> refkit.ReferralProgram:
    seed_story(program)
    return program


@pytest.fixture
def admin(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_USER"] = "admin"
    return client


def page(client: FlaskClient, url: str = "/refkit/admin") -> str:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    return response.get_data(as_text=True)


def metrics(text: str) -> dict[str, str]:
    found = re.findall(r'data-metric="([a-z_]+)">([^<]*)<', text)
    return {name: html.unescape(value) for name, value in found}


def rows(text: str, attribute: str) -> dict[str, list[str]]:
    """Table rows carrying ``data-<attribute>="key"``: key -> the cells' text."""
    found = re.findall(rf'<tr data-{attribute}="([^"]*)">(.*?)</tr>', text, re.DOTALL)
    return {
        html.unescape(key): [
            " ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split())
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", body, re.DOTALL)
        ]
        for key, body in found
    }


def csrf(text: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


def due_ids(program: refkit.ReferralProgram) -> list[int]:
    return [reward.id for reward in dashboard.rewards_due(program).rewards]


# -- the period ----------------------------------------------------------------------------


def test_the_default_period_is_the_last_30_utc_days_by_day() -> None:
    shown = dashboard.period(START)
    assert (shown.key, shown.by, shown.label) == ("30", "day", "Last 30 days")
    assert shown.since == datetime(2026, 1, 31, tzinfo=UTC)  # 30 days, today included
    assert shown.until == START


def test_a_weekly_period_starts_on_a_monday() -> None:
    shown = dashboard.period(START, "7", "week")
    assert shown.since == datetime(2026, 2, 23, tzinfo=UTC)  # 23 Feb 2026 is a Monday
    assert shown.since.weekday() == 0


@pytest.mark.parametrize(("days", "by"), [("12", "month"), ("", None), ("-1", "x"), (None, "")])
def test_unknown_period_values_fall_back_to_the_default(days: str | None, by: str | None) -> None:
    assert dashboard.period(START, days, by) == dashboard.period(START)


def test_all_time_has_no_start() -> None:
    shown = dashboard.period(START, "all", "week")
    assert (shown.since, shown.by, shown.label) == (None, "week", "All time")


# -- the funnel ----------------------------------------------------------------------------


def test_funnel_counts_each_step_and_its_cohort_rate(
    story: refkit.ReferralProgram,
) -> None:
    funnel = dashboard.funnel(story, dashboard.period(START))
    assert [(s.key, s.count, s.of) for s in funnel.steps] == [
        ("visits", 20, None),
        ("signups", 7, None),  # a signup need not follow a visit: no rate
        ("bought", 6, "signups"),  # of the 7 signups, 6 bought (dan too, refunded later)
        ("rewarded", 5, "bought"),  # of the 6, 5 have a reward that counts (not dan's)
    ]
    rates = [step.rate for step in funnel.steps]
    assert rates[:2] == [None, None]
    assert rates[2:] == pytest.approx([6 / 7, 5 / 6])
    assert funnel.k_factor == pytest.approx(7 / 4)
    assert funnel.summary.revenue == Decimal("575.50")


def test_funnel_follows_the_period(story: refkit.ReferralProgram) -> None:
    funnel = dashboard.funnel(story, dashboard.period(START, "7"))
    # visits 4, 3 (alice), 6, 1 (bob); signups eve, gus; gus bought (o-7) and was rewarded
    assert [s.count for s in funnel.steps] == [4, 2, 1, 1]


def test_funnel_of_a_new_program_has_no_rates(program: refkit.ReferralProgram) -> None:
    funnel = dashboard.funnel(program, dashboard.period(START))
    assert [s.count for s in funnel.steps] == [0, 0, 0, 0]
    assert [s.rate for s in funnel.steps] == [None, None, None, None]


def test_funnel_rates_never_pass_100_percent_when_old_signups_buy_in_the_period(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    """Five friends who signed up two months ago buy this week, and one new friend signs up:
    the week's buyers over the week's signups was 6 / 3 = 200%; each rate is now a share of
    the week's signups."""
    for number in range(5):
        story.attribute(f"old-{number}", story.code_for("alice"), at=ago(60))
        story.record_conversion(f"old-o{number}", f"old-{number}", Decimal(40), "EUR", at=ago(1))
    shown = dashboard.period(START, "7")
    funnel = dashboard.funnel(story, shown)
    summary = funnel.summary
    assert summary.first_purchases == 6  # gus and the five: the old, mixed numerator
    assert summary.signups == 2  # eve and gus
    assert summary.first_purchases / summary.signups == 3.0  # it showed "300.0% of signups"
    assert [(s.key, s.count, s.rate) for s in funnel.steps][2:] == [
        ("bought", 1, 0.5),  # gus, of eve and gus
        ("rewarded", 1, 1.0),
    ]
    assert all(s.rate is None or 0 <= s.rate <= 1 for s in funnel.steps)
    assert summary.conversion_rate == 0.5
    shown_page = page(admin, "/refkit/admin?days=7")
    assert "300.0%" not in shown_page
    assert "50.0% of signups" in shown_page
    assert "100.0% of bought" in shown_page


# -- money over time -----------------------------------------------------------------------


def test_money_over_time_has_every_day_of_the_period(story: refkit.ReferralProgram) -> None:
    money = dashboard.money_over_time(story, dashboard.period(START))
    assert money.by == "day"
    assert money.currency == "EUR"
    days = [point.start for point in money.points]
    assert days[0] == date(2026, 1, 31)
    assert days[-1] == date(2026, 3, 1)
    assert len(days) == 30
    revenue = {p.start: p.revenue for p in money.points if p.revenue}
    assert revenue == {
        ago(27).date(): Decimal("100.00"),
        ago(19).date(): Decimal("250.00"),
        ago(16).date(): Decimal("60.00"),
        ago(15).date(): Decimal("40.00"),
        ago(11).date(): Decimal("80.00"),
        ago(2).date(): Decimal("45.50"),  # o-6 was refunded in full: 0.00 on its day
    }
    cost = {p.start: p.reward_cost for p in money.points if p.reward_cost}
    assert cost == {
        ago(27).date(): Decimal("15.00"),
        ago(19).date(): Decimal("30.00"),
        ago(16).date(): Decimal("11.00"),
        ago(11).date(): Decimal("13.00"),
        ago(2).date(): Decimal("9.55"),  # o-6's rewards were revoked
    }
    assert money.revenue == {"EUR": Decimal("575.50")}
    assert money.reward_cost == {"EUR": Decimal("78.55")}
    assert money.other_currencies == []


def test_money_over_time_by_week_sums_monday_to_sunday(story: refkit.ReferralProgram) -> None:
    money = dashboard.money_over_time(story, dashboard.period(START, "30", "week"))
    assert money.by == "week"
    assert all(point.start.weekday() == 0 for point in money.points)
    assert money.points[0].start == date(2026, 1, 26)
    assert money.points[-1].start == date(2026, 2, 23)
    weekly = {p.start: (p.revenue, p.reward_cost) for p in money.points}
    assert weekly[date(2026, 2, 2)] == (Decimal("100.00"), Decimal("15.00"))  # o-1, Mon 2 Feb
    # o-3 (Tue 10 Feb), o-4 (Fri 13 Feb), o-2 (Sat 14 Feb)
    assert weekly[date(2026, 2, 9)] == (Decimal("350.00"), Decimal("41.00"))
    assert weekly[date(2026, 2, 16)] == (Decimal("80.00"), Decimal("13.00"))  # o-5
    assert weekly[date(2026, 2, 23)] == (Decimal("45.50"), Decimal("9.55"))  # o-6 refunded, o-7
    assert sum(p.revenue for p in money.points) == Decimal("575.50")


def test_all_time_money_starts_with_the_first_referred_order(
    story: refkit.ReferralProgram,
) -> None:
    money = dashboard.money_over_time(story, dashboard.period(START, "all"))
    assert money.points[0].start == ago(27).date()
    assert money.points[0].revenue == Decimal("100.00")
    assert money.points[-1].start == START.date()


def test_a_long_daily_history_is_drawn_by_week(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"), at=ago(800))
    program.record_conversion("o-1", "bob", Decimal("10.00"), "EUR", at=ago(800))
    money = dashboard.money_over_time(program, dashboard.period(START, "all", "day"))
    assert (money.by, money.coarsened) == ("week", True)
    assert len(money.points) <= dashboard.MAX_DAILY_POINTS
    assert sum(p.revenue for p in money.points) == Decimal("10.00")


def test_other_currencies_are_totalled_but_not_charted(story: refkit.ReferralProgram) -> None:
    story.attribute("yan", story.code_for("alice"), at=ago(1))
    story.record_conversion("u-1", "yan", Decimal("1000"), "JPY", at=ago(1))
    money = dashboard.money_over_time(story, dashboard.period(START))
    assert money.currency == "EUR"
    assert money.revenue == {"EUR": Decimal("575.50"), "JPY": Decimal("1000")}
    assert money.reward_cost["JPY"] == Decimal("50")  # 10%, capped at 50 (in the order currency)
    assert money.other_currencies == ["JPY"]
    assert sum(p.revenue for p in money.points) == Decimal("575.50")


# -- referrers and campaigns ---------------------------------------------------------------


def test_top_referrers_by_referred_orders(story: refkit.ReferralProgram) -> None:
    leaders = dashboard.top_referrers(story)
    assert [(e.referrer_id, e.signups, e.conversions, e.revenue) for e in leaders] == [
        ("alice", 4, 4, Decimal("390.00")),  # o-1, o-2, o-3, and o-6 refunded
        ("bob", 2, 2, Decimal("105.50")),
        ("carol", 1, 1, Decimal("80.00")),
    ]


def test_campaigns_split_the_funnel_and_the_money(story: refkit.ReferralProgram) -> None:
    found = dashboard.campaigns(story, dashboard.period(START), "EUR")
    table = {
        row.name: (
            row.totals.visits,
            row.totals.signups,
            row.totals.buyers,
            row.totals.conversions,
            row.totals.revenue,
            row.totals.reward_cost,
        )
        for row in found
    }
    assert [row.name for row in found] == ["newsletter", "(no campaign)", "instagram"]
    assert table["newsletter"] == (8, 2, 2, 3, {"EUR": Decimal("390.00")}, {"EUR": Decimal("45")})
    assert table["(no campaign)"] == (
        5,
        2,
        2,
        2,
        {"EUR": Decimal("105.50")},
        {"EUR": Decimal("20.55")},
    )
    assert table["instagram"] == (7, 3, 2, 2, {"EUR": Decimal("80.00")}, {"EUR": Decimal("13")})
    assert found[1].campaign is None


def test_campaigns_past_the_limit_are_summed_into_one_row(
    program: refkit.ReferralProgram,
) -> None:
    code = program.code_for("alice")
    for number in range(dashboard.MAX_CAMPAIGNS + 3):
        for _ in range(number + 1):
            program.record_visit(code, campaign=f"c{number:02}")
    found = dashboard.campaigns(program, dashboard.period(START))
    assert len(found) == dashboard.MAX_CAMPAIGNS + 1
    assert found[0].name == f"c{dashboard.MAX_CAMPAIGNS + 2:02}"  # the most visits first
    assert (found[-1].name, found[-1].others, found[-1].totals.visits) == (
        "3 other campaigns",
        3,
        1 + 2 + 3,
    )


# -- rewards to approve and referrals to review --------------------------------------------


def test_rewards_due_lists_pending_rewards_past_their_hold_period(
    story: refkit.ReferralProgram,
) -> None:
    due = dashboard.rewards_due(story)
    assert due.count == 4
    assert not due.truncated
    assert [(r.order_id, r.beneficiary_id, r.value) for r in due.rewards] == [
        ("o-3", "alice", Decimal("25.00")),
        ("o-3", "carol", Decimal("5.00")),
        ("o-4", "bob", Decimal("6.00")),
        ("o-4", "fay", Decimal("5.00")),
    ]
    assert all(r.status == "pending" and r.due_at <= START for r in due.rewards)


def test_rewards_due_counts_beyond_the_listed_ones(story: refkit.ReferralProgram) -> None:
    due = dashboard.rewards_due(story, limit=3)
    assert (due.count, len(due.rewards), due.truncated) == (4, 3, True)


def test_nothing_flags_referrals_yet(story: refkit.ReferralProgram) -> None:
    assert dashboard.flagged_referrals(story) == []


# -- one referrer --------------------------------------------------------------------------


def test_referrer_report_lists_referrals_with_their_orders(story: refkit.ReferralProgram) -> None:
    report = dashboard.referrer_report(story, "alice")
    assert report.buyers == 3
    found = [
        (r.referee_id, r.campaign, r.orders, r.first_order_at, r.revenue) for r in report.referrals
    ]
    assert found == [
        ("eve", "instagram", 0, None, {}),
        ("dan", "instagram", 1, ago(8), {"EUR": Decimal("0.00")}),
        ("carol", "newsletter", 1, ago(19), {"EUR": Decimal("250.00")}),
        ("bob", "newsletter", 2, ago(27), {"EUR": Decimal("140.00")}),
    ]
    assert [c.order_id for c in report.conversions] == ["o-6", "o-2", "o-3", "o-1"]
    o6 = report.conversions[0]
    assert o6.refunded_amount == Decimal("30.00")
    assert {(r.beneficiary_id, r.status) for r in o6.rewards} == {
        ("alice", "revoked"),
        ("dan", "revoked"),
    }


def test_referrer_ledger_has_a_running_balance(story: refkit.ReferralProgram) -> None:
    report = dashboard.referrer_report(story, "alice")
    lines = [
        (
            line.entry.kind,
            line.entry.pending,
            line.entry.approved,
            line.pending_balance,
            line.approved_balance,
        )
        for line in report.ledger
    ]
    assert lines == [
        ("accrued", Decimal("10.00"), Decimal("0.00"), Decimal("10.00"), Decimal("0.00")),
        ("accrued", Decimal("25.00"), Decimal("0.00"), Decimal("35.00"), Decimal("0.00")),
        ("approved", Decimal("-10.00"), Decimal("10.00"), Decimal("25.00"), Decimal("10.00")),
        ("accrued", Decimal("3.00"), Decimal("0.00"), Decimal("28.00"), Decimal("10.00")),
        ("revoked", Decimal("-3.00"), Decimal("0.00"), Decimal("25.00"), Decimal("10.00")),
    ]
    assert report.pending == {"EUR": Decimal("25.00")}
    assert report.approved == {"EUR": Decimal("10.00")}
    stats = story.stats_for("alice")
    assert report.approved["EUR"] == stats.balance


def test_running_balance_keeps_currencies_and_points_apart() -> None:
    def entry(number: int, pending: str, currency: str | None) -> refkit.LedgerEntry:
        return refkit.LedgerEntry(
            number, number, "u", "accrued", Decimal(pending), Decimal(0), currency, START
        )

    lines = dashboard.running_balance(
        [entry(1, "5", "EUR"), entry(2, "100", None), entry(3, "2", "EUR"), entry(4, "7", "USD")]
    )
    assert [line.pending_balance for line in lines] == [
        Decimal(5),
        Decimal(100),
        Decimal(7),
        Decimal(7),
    ]


# -- every store computes the same panels --------------------------------------------------


def test_panels_are_the_same_on_every_store(store_url: str) -> None:
    program = refkit.ReferralProgram(
        secret_key=SECRET, store=store_url, rules=RULES, clock=refkit.FrozenClock(START)
    )
    try:
        seed_story(program)
        for by in ("day", "week"):
            money = dashboard.money_over_time(program, dashboard.period(START, "30", by))
            assert sum(p.revenue for p in money.points) == Decimal("575.50")
            assert sum(p.reward_cost for p in money.points) == Decimal("78.55")
        weekly = dashboard.money_over_time(program, dashboard.period(START, "all", "week"))
        assert [(p.start, p.revenue) for p in weekly.points if p.revenue] == [
            (date(2026, 2, 2), Decimal("100.00")),
            (date(2026, 2, 9), Decimal("350.00")),
            (date(2026, 2, 16), Decimal("80.00")),
            (date(2026, 2, 23), Decimal("45.50")),
        ]
        campaigns = dashboard.campaigns(program, dashboard.period(START), "EUR")
        assert [(c.name, c.totals.buyers) for c in campaigns] == [
            ("newsletter", 2),
            ("(no campaign)", 2),
            ("instagram", 2),
        ]
        assert dashboard.rewards_due(program).count == 4
        report = dashboard.referrer_report(program, "alice")
        assert (report.buyers, report.approved) == (3, {"EUR": Decimal("10.00")})
        assert report.referrals[-1].first_order_at == ago(27)
    finally:
        program.store.close()


# -- the dashboard page --------------------------------------------------------------------


def test_dashboard_shows_the_numbers_of_the_last_30_days(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    assert metrics(text) == {
        "referrers": "4",
        "visits": "20",
        "signups": "7",
        "conversions": "7",
        "conversion_rate": "85.7%",
        "revenue": "575.50 EUR",
        "reward_cost": "78.55 EUR",
        "k_factor": "1.75",
        "due_rewards": "4",
        "due_count": "4",
    }
    assert 'data-period="30"' in text
    assert "31 Jan 2026 to 1 Mar 2026" in text


def test_dashboard_funnel_chart_and_table(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    svg = re.search(r'<svg class="refkit-chart" id="refkit-funnel-chart".*?</svg>', text, re.S)
    assert svg is not None
    chart = svg.group()
    assert 'role="img"' in chart
    assert 'aria-labelledby="refkit-funnel-chart-title"' in chart
    assert 'aria-describedby="refkit-funnel-chart-desc"' in chart
    assert '<title id="refkit-funnel-chart-title">Referral funnel, last 30 days</title>' in chart
    assert (
        "Visits 20, Signups 7, Bought 6 (85.7% of signups), Rewarded 5 (83.3% of bought)."
    ) in chart
    assert re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', chart) == [
        ("Visits", "20"),
        ("Signups", "7"),
        ("Bought", "6"),
        ("Rewarded", "5"),
    ]
    steps = rows(text, "step")
    assert steps["signups"] == ["Signups", "7", "\u2013"]
    assert steps["bought"] == ["Bought", "6", "85.7% of signups"]
    assert steps["rewarded"] == ["Rewarded", "5", "83.3% of bought"]


def test_dashboard_money_chart_has_a_point_per_day_and_a_text_alternative(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    svg = re.search(r'<svg class="refkit-chart" id="refkit-money-chart".*?</svg>', text, re.S)
    assert svg is not None
    chart = svg.group()
    assert 'viewBox="0 0 400 ' in chart
    assert "Revenue and reward cost by day, in EUR" in chart
    assert "from 31 Jan 2026 to 1 Mar 2026: revenue 575.50 EUR in total" in chart
    assert "The best day was 10 Feb 2026, with 250.00 EUR of revenue." in chart
    assert chart.count("<circle") == 60  # 30 days, 2 series
    assert "<title>10 Feb 2026: revenue 250.00 EUR</title>" in chart
    table = rows(text, "bucket")
    assert table["2026-02-10"] == ["10 Feb 2026", "250.00 EUR", "30.00 EUR"]
    assert len(table) == 6  # the days with money; o-6's day nets to zero
    weekly = rows(page(admin, "/refkit/admin?by=week"), "bucket")
    assert weekly["2026-02-09"] == ["9 Feb 2026", "350.00 EUR", "41.00 EUR"]


def test_dashboard_leaderboard_links_to_each_referrer(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    body = text.split('id="refkit-leaders"', 1)[1].split("</section>", 1)[0]
    cells = re.findall(r"<tr><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td>.*?</tr>", body, re.S)
    assert [re.sub(r"<[^>]+>", "", name) for _, name in cells] == ["alice", "bob", "carol"]
    assert '<a href="/refkit/admin/referrer?id=alice">alice</a>' in body
    assert "390.00 EUR" in body


def test_dashboard_campaign_split(admin: FlaskClient, story: refkit.ReferralProgram) -> None:
    text = page(admin)
    table = rows(text, "campaign")
    assert table["newsletter"] == ["newsletter", "8", "2", "2", "390.00 EUR", "45.00 EUR"]
    assert table[""] == ["(no campaign)", "5", "2", "2", "105.50 EUR", "20.55 EUR"]
    assert table["instagram"] == ["instagram", "7", "3", "2", "80.00 EUR", "13.00 EUR"]
    assert 'id="refkit-campaign-chart"' in text
    assert "newsletter: 390.00 EUR (2 signups, 2 bought)" in text


def test_dashboard_for_another_period(admin: FlaskClient, story: refkit.ReferralProgram) -> None:
    shown = metrics(page(admin, "/refkit/admin?days=7"))
    assert (shown["visits"], shown["signups"], shown["conversions"]) == ("4", "2", "1")
    assert (shown["revenue"], shown["reward_cost"]) == ("45.50 EUR", "9.55 EUR")
    assert shown["due_rewards"] == "4"  # rewards due are not limited to the period
    every = metrics(page(admin, "/refkit/admin?days=all"))
    assert every["revenue"] == "575.50 EUR"


def test_dashboard_period_links_keep_the_other_choice(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin, "/refkit/admin?days=90&by=week")
    assert '<a href="/refkit/admin?days=7&amp;by=week">' in text
    assert '<a href="/refkit/admin?days=90&amp;by=day">' in text
    assert re.search(r'days=90&amp;by=week"\s+aria-current="page">90 days<', text)


def test_dashboard_lists_rewards_due_with_buttons(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    due = rows(text, "reward")
    ids = due_ids(story)
    assert list(due) == [str(i) for i in ids]
    assert due[str(ids[0])][:6] == [
        f"#{ids[0]}",
        "alice (referrer)",
        "o-3",
        "25.00 EUR",
        "10 Feb 2026",  # earned
        "24 Feb 2026",  # due: 14 days later
    ]
    assert f'action="/refkit/admin/rewards/{ids[0]}/approve"' in text
    assert f'action="/refkit/admin/rewards/{ids[0]}/revoke"' in text
    assert f'aria-label="Approve reward #{ids[0]}"' in text
    assert "Approve all 4 due" in text


def test_dashboard_shows_an_empty_state_for_flagged_referrals(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin)
    flagged = text.split('id="flagged"', 1)[1].split("</section>", 1)[0]
    assert "Referrals to review" in flagged
    assert 'data-empty="flagged"' in flagged
    assert "<table" not in flagged


def test_dashboard_of_a_new_program(admin: FlaskClient) -> None:
    text = page(admin)
    assert metrics(text)["revenue"] == "0.00 EUR"  # the rules' currency
    assert "No referred purchases yet." in text
    assert "Nothing to approve" in text
    assert "No visits, signups or orders in this period." in text


def test_dashboard_of_a_program_without_rules_or_currency(tmp_path: Path) -> None:
    app = make_app(tmp_path, refkit.FrozenClock(START), REFKIT_RULES=None)
    try:
        program = program_of(app)
        program.record_visit(program.code_for("alice"), campaign="spring")
        client = app.test_client()
        client.environ_base["HTTP_X_USER"] = "admin"
        text = page(client)
        assert (metrics(text)["revenue"], metrics(text)["visits"]) == ("0", "1")
        words = re.sub(r"<[^>]+>", " ", text.split("<body>", 1)[1])
        assert not re.search(r"\bpoints?\b", words)
        assert rows(text, "campaign")["spring"] == ["spring", "1", "0", "0", "0", "0"]
    finally:
        program_of(app).store.close()


# -- approving and revoking ----------------------------------------------------------------


def post(client: FlaskClient, url: str, token: str | None, **form: str) -> Any:
    data = dict(form)
    if token is not None:
        data["csrf_token"] = token
    return client.post(url, data=data)


def test_approving_a_reward_redirects_back_with_a_message(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    token = csrf(page(admin))
    reward = due_ids(story)[0]
    response = post(admin, f"/refkit/admin/rewards/{reward}/approve", token, days="7", by="week")
    assert response.status_code == 303
    assert response.headers["Location"] == (
        f"/refkit/admin?days=7&by=week&done=approved&reward={reward}#notice"
    )
    assert [r.status for r in story.rewards(status="approved") if r.id == reward] == ["approved"]
    text = page(admin, response.headers["Location"])
    assert f"Reward #{reward} approved." in text
    assert metrics(text)["due_rewards"] == "3"
    assert str(reward) not in rows(text, "reward")


def test_revoking_a_reward(admin: FlaskClient, story: refkit.ReferralProgram) -> None:
    token = csrf(page(admin))
    reward = due_ids(story)[1]
    response = post(admin, f"/refkit/admin/rewards/{reward}/revoke", token)
    assert response.headers["Location"] == f"/refkit/admin?done=revoked&reward={reward}#notice"
    assert reward in [r.id for r in story.rewards(status="revoked")]
    assert f"Reward #{reward} revoked." in page(admin, response.headers["Location"])


def test_deciding_on_a_reward_that_is_no_longer_pending_changes_nothing(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    token = csrf(page(admin))
    reward = due_ids(story)[0]
    post(admin, f"/refkit/admin/rewards/{reward}/revoke", token)
    response = post(admin, f"/refkit/admin/rewards/{reward}/approve", token)
    assert "done=unchanged" in response.headers["Location"]
    assert "was no longer pending" in page(admin, response.headers["Location"])
    assert reward in [r.id for r in story.rewards(status="revoked")]


def test_approving_every_due_reward(admin: FlaskClient, story: refkit.ReferralProgram) -> None:
    token = csrf(page(admin))
    response = post(admin, "/refkit/admin/rewards/approve-due", token)
    assert response.headers["Location"] == "/refkit/admin?done=approved_due&count=4#notice"
    text = page(admin, response.headers["Location"])
    assert "Approved 4 rewards whose hold period had passed." in text
    assert metrics(text)["due_rewards"] == "0"


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_a_post_without_the_sessions_token_is_refused(
    admin: FlaskClient, story: refkit.ReferralProgram, token: str | None
) -> None:
    page(admin)  # the session has a token; the form does not send it
    reward = due_ids(story)[0]
    response = post(admin, f"/refkit/admin/rewards/{reward}/approve", token)
    assert response.status_code == 400
    assert due_ids(story)[0] == reward


def test_a_token_from_another_session_is_refused(
    app: Flask, admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    token = csrf(page(admin))
    other = app.test_client()
    other.environ_base["HTTP_X_USER"] = "admin"
    page(other)
    response = post(other, f"/refkit/admin/rewards/{due_ids(story)[0]}/approve", token)
    assert response.status_code == 400
    assert dashboard.rewards_due(story).count == 4


@pytest.mark.parametrize(
    "url", ["/refkit/admin/rewards/1/approve", "/refkit/admin/rewards/approve-due"]
)
def test_posts_are_403_for_non_admins(app: Flask, story: refkit.ReferralProgram, url: str) -> None:
    client = app.test_client()
    client.environ_base["HTTP_X_USER"] = "alice"
    assert client.post(url, data={"csrf_token": "x"}).status_code == 403
    assert dashboard.rewards_due(story).count == 4


def test_get_on_an_action_is_not_allowed(admin: FlaskClient, story: refkit.ReferralProgram) -> None:
    assert admin.get(f"/refkit/admin/rewards/{due_ids(story)[0]}/approve").status_code == 405
    assert admin.post("/refkit/admin/rewards/1/delete").status_code == 404


def test_a_forged_message_in_the_query_string_is_not_shown(admin: FlaskClient) -> None:
    text = page(admin, "/refkit/admin?done=<b>pwned</b>&reward=1")
    assert "pwned" not in text
    assert "data-notice" not in page(admin, "/refkit/admin?done=approved&reward=1x")


def test_without_a_secret_key_the_page_shows_no_buttons(tmp_path: Path) -> None:
    app = make_app(tmp_path, refkit.FrozenClock(START), SECRET_KEY=None, REFKIT_SECRET_KEY=SECRET)
    try:
        seed_story(program_of(app))
        client = app.test_client()
        client.environ_base["HTTP_X_USER"] = "admin"
        text = page(client)
        assert "csrf_token" not in text
        assert "Set the app's <code>SECRET_KEY</code>" in text
        assert client.post("/refkit/admin/rewards/approve-due").status_code == 400
    finally:
        program_of(app).store.close()


# -- the referrer's page -------------------------------------------------------------------


def test_referrer_page_shows_referrals_orders_and_the_ledger(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    text = page(admin, "/refkit/admin/referrer?id=alice")
    assert metrics(text) == {
        "visits": "12",
        "signups": "4",
        "buyers": "3",
        "conversions": "4",
        "revenue": "390.00 EUR",
        "pending": "25.00 EUR",
        "balance": "10.00 EUR",
    }
    referrals = rows(text, "referee")
    assert referrals["bob"] == [
        "bob",
        "1 Feb 2026",
        "link (newsletter)",
        "2",
        "2 Feb 2026",
        "140.00 EUR",
    ]
    assert referrals["eve"][3:] == ["0", "\u2013", "0.00 EUR"]  # no first order
    orders = rows(text, "order")
    assert orders["o-6"][:4] == ["21 Feb 2026", "o-6", "dan", "30.00 EUR 30.00 EUR refunded"]
    assert "revoked" in orders["o-6"][4]
    ledger = [cells[2:] for cells in rows(text, "entry").values()]
    assert ledger == [
        ["accrued", "+10.00 EUR", "", "10.00 EUR", "0.00 EUR"],
        ["accrued", "+25.00 EUR", "", "35.00 EUR", "0.00 EUR"],
        ["approved", "\u221210.00 EUR", "+10.00 EUR", "25.00 EUR", "10.00 EUR"],
        ["accrued", "+3.00 EUR", "", "28.00 EUR", "10.00 EUR"],
        ["revoked", "\u22123.00 EUR", "", "25.00 EUR", "10.00 EUR"],
    ]
    assert 'id="refkit-referrer-chart"' in text
    assert "alice&#39;s funnel: Visits 12, Signups 4, Bought 3." in text


def test_referrer_page_of_someone_without_referrals(admin: FlaskClient) -> None:
    text = page(admin, "/refkit/admin/referrer?id=nobody")
    assert "Nobody has signed up through them yet." in text
    assert "No rewards yet." in text


@pytest.mark.parametrize("query", ["", "?id=", "?id=" + "x" * 300, "?id=a%0Ab"])
def test_referrer_page_of_an_invalid_id_is_404(admin: FlaskClient, query: str) -> None:
    assert admin.get(f"/refkit/admin/referrer{query}").status_code == 404


@pytest.mark.parametrize("user", [None, "alice"])
def test_referrer_page_is_403_for_non_admins(app: Flask, user: str | None) -> None:
    headers = {"X-User": user} if user else {}
    response = app.test_client().get("/refkit/admin/referrer?id=alice", headers=headers)
    assert response.status_code == 403


# -- escaping ------------------------------------------------------------------------------


def test_user_ids_and_campaigns_are_escaped_everywhere(
    admin: FlaskClient, program: refkit.ReferralProgram
) -> None:
    evil = '<img src=x onerror="alert(1)">'
    code = program.code_for(evil)
    program.record_visit(code, campaign=evil)
    program.attribute("bob", code, campaign=evil)
    program.record_conversion("o-<b>", "bob", Decimal("30"), "EUR", at=ago(20))
    for text in (page(admin), page(admin, f"/refkit/admin/referrer?id={evil}")):
        assert "<img" not in text
        assert "&lt;img src=x" in text
        assert "<b>" not in text


# -- formatting and charts -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        ("1234567.5", "EUR", "1,234,567.50 EUR"),
        ("1234", "JPY", "1,234 JPY"),
        ("1.5", "BHD", "1.500 BHD"),
        ("0", "EUR", "0.00 EUR"),
        ("1200", None, "1,200 points"),
        ("1", None, "1 point"),
    ],
)
def test_money_is_formatted_with_the_currencys_decimals(
    amount: str, currency: str | None, shown: str
) -> None:
    assert format_money(Decimal(amount), currency) == shown


def test_signed_money_and_totals() -> None:
    assert format_signed_money(Decimal("5"), "EUR") == "+5.00 EUR"
    assert format_signed_money(Decimal("-5"), "EUR") == "\u22125.00 EUR"
    assert format_money_totals({"USD": Decimal(3), "EUR": Decimal(2)}, "EUR") == (
        "2.00 EUR + 3.00 USD"
    )
    assert format_money_totals({}, "EUR") == "0.00 EUR"
    assert format_money_totals({}, None) == "0"


def test_dates_and_rates_read_like_people_write_them() -> None:
    assert format_date(date(2026, 3, 3)) == "3 Mar 2026"
    assert format_date(datetime(2026, 12, 25, 23, 59, tzinfo=UTC)) == "25 Dec 2026"
    assert format_rate(2, 3) == "66.7%"
    assert format_rate(1, 0) == "\u2013"


def test_charts_are_labelled_scalable_and_escaped() -> None:
    svg = charts.bar_chart("c<1>", "A <title>", 'B & "C"', [charts.Bar("<x>", 2, "2 & 3")])
    assert svg.startswith('<svg class="refkit-chart" id="c&lt;1&gt;" role="img" ')
    assert 'aria-labelledby="c&lt;1&gt;-title" aria-describedby="c&lt;1&gt;-desc"' in svg
    assert 'viewBox="0 0 400 ' in svg
    assert '<title id="c&lt;1&gt;-title">A &lt;title&gt;</title>' in svg
    assert '<desc id="c&lt;1&gt;-desc">B &amp; &#34;C&#34;</desc>' in svg
    assert "<x>" not in svg
    line = charts.line_chart("l", "T", "D", ["a", "b"], [charts.Series("s", [1.0, 3.0])])
    assert line.count("<circle") == 2
    assert "<polyline" in line
    with pytest.raises(ValueError, match="2 values for 3 labels"):
        charts.line_chart("l", "T", "D", ["a", "b", "c"], [charts.Series("s", [1.0, 3.0])])


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0, 1), (0.3, 0.5), (1, 1), (7, 10), (23, 25), (120, 200), (4001, 5000)]
)
def test_axes_end_on_a_round_number(value: float, ceiling: float) -> None:
    assert charts.nice_ceiling(value) == pytest.approx(ceiling)


# -- balances and payouts ------------------------------------------------------------------


def _payable(story: refkit.ReferralProgram) -> refkit.Balance:
    story.approve_due()
    balances = story.balances()
    assert balances, "the story approves some credit"
    return balances[0]


def test_the_dashboard_lists_balances_with_a_payout_form(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    line = _payable(story)
    text = page(admin)
    assert f'data-balance="{line.user_id}"' in text
    assert 'action="/refkit/admin/payouts"' in text
    assert f'name="amount" value="{line.amount}"' in text


def test_recording_a_payout_lowers_the_balance_once_per_reference(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    line = _payable(story)
    token = csrf(page(admin))
    form = {
        "user": line.user_id,
        "amount": str(line.amount),
        "currency": line.currency,
        "reference": "payout-1",
    }
    response = post(admin, "/refkit/admin/payouts", token, **form)
    assert response.status_code == 303
    assert response.headers["Location"] == "/refkit/admin?done=paid_out#notice"
    assert "Payout recorded" in page(admin, response.headers["Location"])
    assert story.balance(line.user_id, line.currency) == 0
    assert post(admin, "/refkit/admin/payouts", token, **form).status_code == 303  # a resend
    kinds = [entry.kind for entry in story.ledger(line.user_id)]
    assert kinds.count("paid_out") == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [({"amount": "999999"}, 400), ({"amount": "-1"}, 400), ({"currency": "EURO"}, 400)],
)
def test_a_bad_payout_is_refused_and_stores_nothing(
    admin: FlaskClient, story: refkit.ReferralProgram, change: dict[str, str], status: int
) -> None:
    line = _payable(story)
    token = csrf(page(admin))
    form = {"user": line.user_id, "amount": "1", "currency": line.currency, "reference": "p-9"}
    assert post(admin, "/refkit/admin/payouts", token, **{**form, **change}).status_code == status
    assert story.balance(line.user_id, line.currency) == line.amount


def test_a_payout_without_the_sessions_token_is_refused(
    admin: FlaskClient, story: refkit.ReferralProgram
) -> None:
    line = _payable(story)
    page(admin)
    form = {"user": line.user_id, "amount": "1", "currency": line.currency, "reference": "p"}
    assert post(admin, "/refkit/admin/payouts", "forged", **form).status_code == 400
    assert story.balance(line.user_id, line.currency) == line.amount


def test_the_referrer_page_balance_follows_spending_and_shows_a_debt_apart(
    admin: FlaskClient, program: refkit.ReferralProgram
) -> None:
    code = program.code_for("dora")
    program.attribute("erin", code)
    conversion = program.record_conversion("debt-1", "erin", Decimal("200.00"), "EUR")
    program.approve(conversion.rewards[0].id)
    owed = program.balance("dora", "EUR")
    assert owed > Decimal("3")
    program.redeem("dora", Decimal("3.00"), "EUR", reference="cart-1")
    text = page(admin, "/refkit/admin/referrer?id=dora")
    assert metrics(text)["balance"] == format_money(owed - Decimal("3.00"), "EUR")
    assert "debt" not in metrics(text)
    program.refund("debt-1")  # the reward is reversed after 3.00 of it was spent
    text = page(admin, "/refkit/admin/referrer?id=dora")
    assert metrics(text)["balance"] == format_money(Decimal(0), "EUR")
    assert metrics(text)["debt"] == format_money(Decimal("3.00"), "EUR")


def test_the_referrer_page_shows_the_milestone_progress(tmp_path: Path) -> None:
    clock = refkit.FrozenClock(START)
    rules = dataclasses.replace(
        RULES,
        milestones=[
            refkit.Milestone(1, refkit.Reward.points(50)),
            refkit.Milestone(3, refkit.Reward.fixed(Decimal("20"), "EUR")),
        ],
    )
    app = make_app(tmp_path, clock, REFKIT_RULES=rules)
    program = program_of(app)
    try:
        admin = app.test_client()
        admin.environ_base["HTTP_X_USER"] = "admin"
        user = '<script>alert(1)</script>"'
        before = page(admin, f"/refkit/admin/referrer?id={quote(user)}")
        assert "<script>alert(1)" not in before
        assert metrics(before)["milestone"].strip() == "0 of 1"
        for friend in ("bob", "carol"):
            program.attribute(friend, program.code_for(user))
            program.record_conversion(f"m-{friend}", friend, Decimal("40.00"), "EUR")
        clock.advance(days=15)
        program.approve_due()
        text = page(admin, f"/refkit/admin/referrer?id={quote(user)}")
        milestone = re.search(r'data-metric="milestone">(.*?)</dd>', text, re.DOTALL)
        assert milestone is not None
        shown = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", milestone.group(1))).split())
        assert shown == "2 of 3 rewarded referrals, then 20.00 EUR paid at 1"
        assert "<script>alert(1)" not in text
    finally:
        program.store.close()
