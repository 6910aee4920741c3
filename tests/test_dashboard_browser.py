"""The admin dashboard in a real browser: headless Chromium, driven by Playwright.

The app is served on 127.0.0.1 (a free port) from a thread; the browser opens the dashboard of a
seeded program, checks the charts and the numbers, approves a reward by clicking its button,
follows a referrer link, checks the page fits a phone's width, and saves screenshots.

Chromium is Debian's (``apt-get install chromium``): Playwright's own browser download is not
used. Without Chromium (or the ``playwright`` package) the tests skip, saying how to install
it; in CI (``CI=true``) they fail instead. Set ``REFKIT_DASHBOARD_SCREENSHOT=path.png`` to keep
the desktop screenshot (``make screenshot`` writes the one in the docs).
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import refkit
from refkit.dashboard import data as dashboard
from refkit.dashboard.formatting import format_count, format_money_totals, format_ratio

from .support.api_shop import START, make_app, program_of
from .support.browser_fixtures import loopback
from .support.story import ago, seed_story

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.browser


def seed_crowd(program: refkit.ReferralProgram) -> None:
    """A busier month around :func:`~tests.test_dashboard.seed_story`, for a screenshot that
    looks like a real shop: more referrers, campaigns and orders on most days (seeded, so the
    same every run). Its rewards due more than three days ago are approved."""
    chance = random.Random(2026)
    campaigns = ["newsletter", "instagram", "podcast", None]
    referrers = ["maya", "noah", "olga", "pete", "quinn", "rosa"]
    codes = {name: program.code_for(name) for name in referrers}
    number = 0
    for days in range(29, -1, -1):
        for _ in range(chance.randint(2, 9)):
            name = chance.choice(referrers)
            program.record_visit(codes[name], campaign=chance.choice(campaigns), at=ago(days + 0.4))
        for _ in range(chance.choice([0, 1, 1, 2])):
            number += 1
            referee = f"c-{number:03}"
            name = chance.choice(referrers[: chance.randint(1, len(referrers))])
            campaign = chance.choice(campaigns)
            program.attribute(referee, codes[name], at=ago(days + 0.3), campaign=campaign)
            if chance.random() < 0.7:
                cents = chance.randint(1800, 16000)
                amount = Decimal(cents).scaleb(-2)
                program.record_conversion(
                    f"x-{number:03}", referee, amount, "EUR", at=ago(max(days - 0.2, 0.01))
                )
    program.approve_due(ago(3))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(tmp_path, refkit.FrozenClock(START))
    program = program_of(app)
    seed_crowd(program)
    seed_story(program)
    try:
        yield app
    finally:
        program.store.close()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app on 127.0.0.1 (loopback only), on a free port, until the test ends."""
    with loopback(app, "dashboard-server") as base:
        yield base


def open_page(chromium: Any, viewport: dict[str, int], **options: Any) -> Any:
    context = chromium.new_context(
        viewport=viewport, extra_http_headers={"X-User": "admin"}, **options
    )
    context.set_default_timeout(15_000)
    return context.new_page()


def keep_screenshot(shot: Path) -> None:
    target = os.environ.get("REFKIT_DASHBOARD_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)


def test_dashboard_in_chromium(chromium: Any, server: str, app: Flask, tmp_path: Path) -> None:
    program = program_of(app)
    shown = dashboard.period(START)
    funnel = dashboard.funnel(program, shown)
    money = dashboard.money_over_time(program, shown)
    due = dashboard.rewards_due(program)
    assert due.count >= 4  # the story's four, and the crowd's due in the last three days

    page = open_page(chromium, DESKTOP)
    response = page.goto(f"{server}/refkit/admin")
    assert response is not None
    assert response.status == 200
    assert page.title() == "Referral program · refkit"

    # the numbers, formatted for people
    metric = page.locator
    assert metric("[data-metric=visits]").inner_text() == format_count(funnel.summary.visits)
    assert metric("[data-metric=revenue]").inner_text() == format_money_totals(money.revenue, "EUR")
    assert metric("[data-metric=reward_cost]").inner_text() == format_money_totals(
        money.reward_cost, "EUR"
    )
    assert metric("[data-metric=k_factor]").inner_text() == f"{funnel.k_factor:.2f}"
    assert metric("[data-metric=due_rewards]").inner_text() == str(due.count)

    # the charts: drawn, named, described, with the data in them
    funnel_chart = page.get_by_role("img", name="Referral funnel, last 30 days")
    assert funnel_chart.is_visible()
    box = funnel_chart.bounding_box()
    assert box is not None
    assert box["width"] > 300
    assert box["height"] > 100
    bars = funnel_chart.locator("g.bar")
    assert bars.count() == 4
    values = [bars.nth(i).get_attribute("data-value") for i in range(4)]
    assert values == [format_count(step.count) for step in funnel.steps]
    bought = funnel.steps[2]
    assert bought.rate is not None
    assert 0 < bought.rate <= 1
    assert f"{format_ratio(bought.rate)} of signups" in funnel_chart.inner_html()
    description = funnel_chart.get_attribute("aria-describedby")
    assert description == "refkit-funnel-chart-desc"
    assert (
        f"Visits {format_count(funnel.steps[0].count)}"
        in page.locator(f"[id='{description}']").text_content()
    )

    money_chart = page.get_by_role("img", name="Revenue and reward cost by day, in EUR")
    assert money_chart.is_visible()
    assert money_chart.locator("circle").count() == 2 * len(money.points) == 60
    assert money_chart.locator("polyline").count() == 2
    assert page.get_by_role("img", name="Revenue by campaign, in EUR").is_visible()
    leaders = dashboard.top_referrers(program)
    assert page.locator("#referrers tbody tr").count() == len(leaders) > 3

    # the flagged-referrals section exists, empty for now
    assert page.locator("[data-empty=flagged]").is_visible()

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    keep_screenshot(shot)

    # approve the reward that waited longest, by clicking its button
    first = due.rewards[0]
    assert (first.order_id, first.beneficiary_id, first.value) == ("o-3", "alice", Decimal(25))
    page.get_by_role("button", name=f"Approve reward #{first.id}").click()
    page.wait_for_url(re.compile(r"/refkit/admin\?.*done=approved"))
    assert page.locator("[data-notice]").inner_text() == f"Reward #{first.id} approved."
    assert metric("[data-metric=due_rewards]").inner_text() == str(due.count - 1)
    assert page.locator(f"tr[data-reward='{first.id}']").count() == 0
    approved = [r for r in program.rewards(status="approved", limit=1000) if r.id == first.id]
    assert len(approved) == 1

    # a referrer's page, from the leaderboard
    page.locator("#referrers").get_by_role("link", name="alice", exact=True).click()
    page.wait_for_url(re.compile(r"/refkit/admin/referrer\?id=alice$"))
    assert page.locator("h1").inner_text() == "Referrer alice"
    assert page.locator("#ledger tbody tr").count() == len(program.ledger("alice"))
    # o-1's 10.00, approved by the daily job, and o-3's 25.00, approved by the click
    assert page.locator("[data-metric=balance]").inner_text() == "35.00 EUR"
    page.screenshot(path=str(tmp_path / "referrer.png"), full_page=True)
    page.context.close()


def test_dashboard_fits_a_phone(chromium: Any, server: str, tmp_path: Path) -> None:
    page = open_page(chromium, PHONE, is_mobile=True, has_touch=True, device_scale_factor=2)
    assert page.goto(f"{server}/refkit/admin").status == 200
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    for name in ("refkit-funnel-chart", "refkit-money-chart"):
        box = page.locator(f"#{name}").bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE["width"]
        # the smallest chart text is 15 units of a 400-unit-wide drawing: 12 px on a phone
        assert 15 * box["width"] / 400 >= 12
    page.screenshot(path=str(tmp_path / "dashboard-phone.png"), full_page=True)
    page.context.close()


def test_dashboard_is_styled_under_its_strict_csp(chromium: Any, server: str) -> None:
    page = open_page(chromium, DESKTOP)
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text or "Refused" in message.text
            else None
        ),
    )
    failed: list[str] = []  # refkit's own resources that did not load (the favicon is the shop's)
    page.on(
        "response",
        lambda answer: (
            failed.append(answer.url) if "/refkit/" in answer.url and answer.status != 200 else None
        ),
    )
    response = page.goto(f"{server}/refkit/admin")
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "style-src 'self'" in policy
    # the stylesheet applied: the page's background and main column come from admin.css
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(246, 248, 250)"  # --page: #f6f8fa
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "1216px"
    assert refused == []  # no CSP violation
    assert failed == []
    page.context.close()


def test_dashboard_cannot_be_framed(chromium: Any, server: str, app: Flask) -> None:
    @app.get("/framer")
    def framer() -> str:  # a page of the shop itself (same origin) framing the dashboard
        return '<!doctype html><title>framer</title><iframe src="/refkit/admin"></iframe>'

    page = open_page(chromium, DESKTOP)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text))
    assert page.goto(f"{server}/framer").status == 200
    [frame] = [f for f in page.frames if f is not page.main_frame]
    assert frame.locator("[data-metric=visits]").count() == 0  # the dashboard did not load
    assert any("frame-ancestors" in text for text in refused), refused
    page.context.close()
