"""The Django demo shop (``python -m refkit_django.demo``) in a real browser: a referrer
shares her link, a friend signs up through it and buys with the discount, and the owner sees
it on the dashboard.

The demo runs in its own process (Django is configured once per process, and the test
suite's is the test shop's), on a free port it prints once it listens. Headless Chromium
through Playwright, as the Flask demo's browser test; without them the test skips (fails
under ``CI=true``).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support.shop import BROWSER

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    """The demo's address, served by a process of its own (stopped after the test)."""
    pytest.importorskip("django", reason="the django extra installs Django")
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "refkit_django.demo", "--port", "0", "--data", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        address = process.stdout.readline().strip()  # printed once the server listens
        assert address.startswith("http://127.0.0.1:"), address
        yield address.rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def new_page(chromium: Any) -> Any:
    context = chromium.new_context(user_agent=BROWSER)  # "HeadlessChrome" counts as a bot
    context.set_default_timeout(15_000)
    return context.new_page()


def sign_up(page: Any, server: str, name: str) -> None:
    page.goto(f"{server}/signup")
    page.get_by_label("User name").fill(name)
    page.get_by_label("Email").fill(f"{name}@example.com")
    page.get_by_label("Password").fill(f"{name}-password")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{server}/")


def test_a_friend_signs_up_through_a_link_and_buys_with_the_discount(
    chromium: Any, demo: str
) -> None:
    alice = new_page(chromium)
    sign_up(alice, demo, "alice")
    link = alice.locator("#refkit-invite-link").input_value()
    assert link.startswith(f"{demo}/r/")

    friend = new_page(chromium)
    friend.goto(link)
    friend.wait_for_url(f"{demo}/")
    assert "5.00 EUR" in friend.locator(".refkit-offer").inner_text()  # the offer banner
    sign_up(friend, demo, "bob")
    friend.locator("#buy-beans").click()
    friend.wait_for_url("**/?paid=*")
    assert friend.locator("#message").inner_text() == "Paid 35.00 EUR for Coffee beans, 1 kg."
    friend.locator("#buy-beans").click()
    friend.wait_for_url("**/?paid=*")
    assert "Paid 40.00 EUR" in friend.locator("#message").inner_text()  # the first order only

    owner = new_page(chromium)
    owner.goto(f"{demo}/login")
    owner.get_by_label("User name").fill("owner")
    owner.get_by_label("Password").fill("owner")
    owner.get_by_role("button", name="Log in").click()
    owner.wait_for_url(f"{demo}/")
    answer = owner.goto(f"{demo}/refkit/admin/")
    assert answer is not None
    assert answer.status == 200
    assert owner.locator("#refkit-funnel-chart").count() == 1
    assert "Rewards due" in owner.content()
    assert alice.goto(f"{demo}/refkit/admin/").status == 403
