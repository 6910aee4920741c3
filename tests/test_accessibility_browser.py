"""Every page of the demo shop and of the admin dashboard, audited in Chromium at 375 and
1280 px: no axe-core violation at WCAG 2.1 AA, no sideways scrolling, a visible focus ring on
every control (tabbing through the page), no console error, nothing refused by the pages'
Content-Security-Policy (axe runs through the DevTools protocol, so the pages keep theirs).

axe-core comes from the npm registry (tests/support/axe.py); Chromium is Debian's
(tests/support/browser_fixtures.py). Without either the tests skip; under ``CI=true`` they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, render_template_string, request

import refkit
from refkit_flask import RefKitState
from refkit_flask.demo import create_app
from refkit_flask.demo.seed import ACCOUNTS

from .support.api_shop import START, make_app
from .support.axe import audit
from .support.browser_fixtures import loopback
from .support.shop import BROWSER
from .support.story import seed_story

pytestmark = pytest.mark.browser

WIDTHS = (375, 1280)
OWNER = next(a for a in ACCOUNTS if a.is_admin)
ALICE = next(a for a in ACCOUNTS if a.key == "alice")


def serve(app: Flask) -> Iterator[str]:
    with loopback(app, "a11y-server") as base:
        yield base


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """The demo shop with its seeded story, served on 127.0.0.1."""
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "TESTING": True,
            "REFKIT_RAISE_ERRORS": True,
            "DEMO_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    try:
        yield from serve(app)
    finally:
        state = app.extensions["refkit"]
        assert isinstance(state, RefKitState)
        state.program.store.close()


#: A shop's page around refkit's includable invite snippet, as plain as pages get.
SNIPPET_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Invite</title>
</head><body><main><h1>Your account</h1>
{% with refkit_campaign=campaign %}{% include "refkit/invite.html" %}{% endwith %}
</main></body></html>"""


@pytest.fixture
def story_shop(tmp_path: Path) -> Iterator[str]:
    """The tests' small shop with the dashboard's month-long story (rewards due, a frozen
    clock); ``X-User: admin`` may open the dashboard."""
    app = make_app(tmp_path, refkit.FrozenClock(START))
    app.add_url_rule("/favicon.ico", "favicon", lambda: Response(b"", 204))
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    seed_story(state.program)
    state.program.attribute("ivy", state.program.code_for("alice"), email="ivy@mailinator.com")
    try:
        yield from serve(app)
    finally:
        state.program.store.close()


@pytest.fixture
def snippet_shop(tmp_path: Path) -> Iterator[str]:
    """The tests' small shop, with refkit's invite snippet on /invite-page."""
    app = make_app(tmp_path, refkit.FrozenClock(START))
    app.add_url_rule("/favicon.ico", "favicon", lambda: Response(b"", 204))

    def invite_page() -> str:
        return render_template_string(SNIPPET_PAGE, campaign=request.args.get("campaign"))

    app.add_url_rule("/invite-page", "invite_page", invite_page)
    yield from serve(app)


class Watched:
    """A page in a fresh context, with the console errors, failed requests and CSP refusals
    seen while it was open."""

    def __init__(self, chromium: Any, width: int) -> None:
        self.context = chromium.new_context(
            viewport={"width": width, "height": 800}, user_agent=BROWSER, is_mobile=width < 800
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda message: (
                self.errors.append(f"console: {message.text}") if message.type == "error" else None
            ),
        )
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.on(
            "response",
            lambda answer: (
                self.errors.append(f"{answer.status} for {answer.url}")
                if answer.status >= 400 and answer.request.resource_type != "document"
                else None
            ),
        )

    def close(self) -> None:
        self.context.close()


def log_in(page: Any, server: str, email: str, password: str) -> None:
    page.goto(f"{server}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")


def check(watched: Watched, source: str, where: str, problems: dict[str, list[str]]) -> None:
    found = audit(watched.page, source) + watched.errors
    watched.errors.clear()
    if found:
        problems[where] = found


def visit(watched: Watched, url: str, status: int = 200) -> None:
    response = watched.page.goto(url)
    assert response is not None
    assert response.status == status, url


def report(problems: dict[str, list[str]]) -> str:
    return "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in problems.items())


@pytest.mark.parametrize("width", WIDTHS)
def test_every_demo_shop_page_passes_the_audit(
    chromium: Any, axe_source: str, demo: str, width: int
) -> None:
    problems: dict[str, list[str]] = {}
    visitor = Watched(chromium, width)
    page = visitor.page
    for path in ("/", "/login", "/signup"):
        visit(visitor, f"{demo}{path}")
        check(visitor, axe_source, f"{path} at {width}", problems)
    # the forms' errors, tied to their fields
    page.goto(f"{demo}/login")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
    email = page.get_by_label("Email")
    assert email.get_attribute("aria-invalid") == "true"
    assert email.get_attribute("aria-describedby") == "login-error"
    visitor.errors.clear()  # the 400 answer itself
    check(visitor, axe_source, f"/login with an error at {width}", problems)
    page.goto(f"{demo}/signup")
    page.get_by_label("Name").fill("Grace")
    page.get_by_label("Email").fill(ALICE.email)  # taken
    page.get_by_label("Password").fill("cobol-1959")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_load_state()
    field = page.get_by_label("Email")
    assert field.get_attribute("aria-invalid") == "true"
    described = field.get_attribute("aria-describedby")
    assert page.locator(f"#{described}").inner_text().startswith("An account with this email")
    visitor.errors.clear()
    check(visitor, axe_source, f"/signup with an error at {width}", problems)
    visitor.close()

    customer = Watched(chromium, width)
    log_in(customer.page, demo, ALICE.email, ALICE.password)
    for path in ("/", "/invite", "/orders"):
        visit(customer, f"{demo}{path}")
        check(customer, axe_source, f"{path} as a customer at {width}", problems)
    visit(customer, f"{demo}/")
    customer.page.locator("li.product").first.get_by_role("button", name="Buy now").click()
    customer.page.wait_for_url("**/orders/DS-*")
    check(customer, axe_source, f"an order's page at {width}", problems)
    favicon = customer.page.request.get(f"{demo}/favicon.ico")
    assert favicon.status == 200
    assert favicon.headers["content-type"] in ("image/vnd.microsoft.icon", "image/x-icon")
    customer.close()
    assert not problems, report(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_every_admin_page_passes_the_audit(
    chromium: Any, axe_source: str, demo: str, width: int
) -> None:
    problems: dict[str, list[str]] = {}
    owner = Watched(chromium, width)
    page = owner.page
    log_in(page, demo, OWNER.email, OWNER.password)
    for query in ("", "?days=7", "?days=all&by=week"):
        visit(owner, f"{demo}/refkit/admin{query}")
        check(owner, axe_source, f"/refkit/admin{query} at {width}", problems)
    # a referrer's page, from the leaderboard (the demo names its customers, by their ids)
    page.goto(f"{demo}/refkit/admin")
    leader = page.locator("#referrers tbody a").first
    assert leader.inner_text() in {a.name for a in ACCOUNTS}
    leader.click()
    page.wait_for_url("**/refkit/admin/referrer?id=*")
    check(owner, axe_source, f"a referrer's page at {width}", problems)
    owner.close()
    assert not problems, report(problems)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_decision_lands_on_its_notice_with_the_focus(
    chromium: Any, axe_source: str, story_shop: str, width: int
) -> None:
    """Approve or Revoke: the confirmation is in view and has the focus, and the dashboard
    with its buttons, its rewards due and a referral to review passes the audit."""
    problems: dict[str, list[str]] = {}
    owner = Watched(chromium, width)
    owner.context.set_extra_http_headers({"X-User": "admin"})
    page = owner.page
    visit(owner, f"{story_shop}/refkit/admin")
    assert page.locator("#flagged tbody tr").count() == 1
    check(owner, axe_source, f"/refkit/admin with rewards due at {width}", problems)
    visit(owner, f"{story_shop}/refkit/admin/referrer?id=alice")
    check(owner, axe_source, f"alice's page at {width}", problems)
    visit(owner, f"{story_shop}/refkit/admin")
    page.locator("#due button.revoke").first.click()
    page.wait_for_url("**/refkit/admin?*done=revoked*#notice")
    # The browser moves the focus to the fragment's target once it has scrolled to it, which
    # can come after the load event on a busy machine: wait for it (a real failure times out).
    page.wait_for_function("document.activeElement && document.activeElement.id === 'notice'")
    assert page.evaluate("document.activeElement.id") == "notice"
    box = page.locator("#notice").bounding_box()
    assert box is not None
    assert box["y"] >= -1, "the notice is in view"
    assert box["y"] + box["height"] <= 800, "the notice is in view"
    check(owner, axe_source, f"/refkit/admin after a decision at {width}", problems)
    owner.close()
    assert not problems, report(problems)


def test_the_dashboard_and_the_shop_fit_a_320_px_phone(chromium: Any, demo: str) -> None:
    owner = Watched(chromium, 320)
    log_in(owner.page, demo, OWNER.email, OWNER.password)
    for path in ("/", "/login", "/invite", "/refkit/admin", "/refkit/admin?days=all"):
        visit(owner, f"{demo}{path}")
        width = owner.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{path} scrolls sideways at 320 px ({width} px)"
    assert owner.errors == []
    owner.close()


@pytest.mark.parametrize("width", [320, *WIDTHS])
def test_the_invite_snippet_passes_the_audit(
    chromium: Any, axe_source: str, snippet_shop: str, width: int
) -> None:
    watched = Watched(chromium, width)
    watched.context.set_extra_http_headers({"X-User": "alice"})
    visit(watched, f"{snippet_shop}/invite-page?campaign=spring-newsletter-2026")
    field = watched.page.get_by_label("Your invite link")
    assert field.input_value().startswith(f"{snippet_shop}/r/")
    box = field.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= width
    problems: dict[str, list[str]] = {}
    check(watched, axe_source, f"the invite snippet at {width}", problems)
    watched.close()
    assert not problems, report(problems)


def test_chart_text_is_at_least_12_px_on_a_phone(chromium: Any, demo: str) -> None:
    owner = Watched(chromium, 375)
    log_in(owner.page, demo, OWNER.email, OWNER.password)
    visit(owner, f"{demo}/refkit/admin")
    smallest: Callable[[str], float] = lambda chart: owner.page.evaluate(  # noqa: E731
        """(id) => {
            const svg = document.getElementById(id);
            const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return Math.min(...[...svg.querySelectorAll("text")].map(
                t => parseFloat(getComputedStyle(t).fontSize) * scale));
        }""",
        chart,
    )
    for chart in ("refkit-funnel-chart", "refkit-money-chart", "refkit-campaign-chart"):
        assert smallest(chart) >= 12, chart
    owner.close()
