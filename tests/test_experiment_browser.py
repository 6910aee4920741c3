"""The dashboard's experiment panel in headless Chromium: drawn under the strict CSP with no
console error, hostile names shown as text, and no sideways scroll on a phone or a desktop.
(Skips without Chromium, like tests/test_dashboard_browser.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import refkit
from refkit import Experiment, Reward, RewardRules

from .support.api_shop import START, make_app, program_of
from .support.browser_fixtures import loopback

pytestmark = pytest.mark.browser

RULES = RewardRules(currency="EUR", referrer_reward=Reward.fixed(Decimal("3"), "EUR"))
KEY = '<script>alert("key")</script>]]></svg><svg onload=alert(1)>'
VARIANT = "<b>B</b>\"'><img src=x onerror=alert(2)>&"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    app = make_app(
        tmp_path,
        refkit.FrozenClock(START),
        REFKIT_RULES=Experiment(KEY, {"A": RULES, VARIANT: RULES}),
    )
    program = program_of(app)
    code = program.code_for("alice")
    for variant, signups, buyers in (("A", 40, 12), (VARIANT, 50, 25)):
        for n in range(signups):
            user = f"{variant[:1]}-{n}"
            program.record_visit(code, variant=variant)
            program.attribute(user, code, variant=variant)
            if n < buyers:
                program.record_conversion(f"order-{user}", user, 40, "EUR")
    try:
        yield app
    finally:
        program.store.close()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    with loopback(app, "experiment-server") as base:
        yield base


@pytest.mark.parametrize("width", [375, 1280])
def test_the_experiment_panel_in_chromium(chromium: Any, server: str, width: int) -> None:
    context = chromium.new_context(
        viewport={"width": width, "height": 900}, extra_http_headers={"X-User": "admin"}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    failed: list[str] = []
    # A failed load shows as a console message too: those are checked by URL below.
    page.on(
        "console",
        lambda message: (
            None
            if message.text.startswith("Failed to load resource")
            else problems.append(message.text)
        ),
    )
    page.on("response", lambda answer: failed.append(answer.url) if answer.status >= 400 else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    try:
        response = page.goto(f"{server}/refkit/admin#experiment")
        assert response is not None
        assert response.status == 200
        panel = page.locator("#experiment")
        assert panel.is_visible()
        chart = page.get_by_role("img", name=f"Experiment {KEY}: conversion rate by variant")
        assert chart.is_visible()
        assert chart.locator("g.interval").count() == 2
        assert KEY in page.locator("#experiment h2").inner_text()
        assert page.locator("#experiment img").count() == 0  # the hostile name stays text
        assert page.locator("#experiment script").count() == 0
        assert VARIANT in panel.inner_text()
        assert "no significant difference yet (p = 0.055)" in panel.inner_text()
        scroll = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll[0] <= scroll[1], f"sideways scroll at {width}px: {scroll}"
        assert problems == []  # no CSP violation, no script error, no alert
        # Every resource loads (the browser's own /favicon.ico request aside: issue 15's
        # audit, the dashboard's a11y work).
        assert [url for url in failed if not url.endswith("/favicon.ico")] == []
    finally:
        context.close()
