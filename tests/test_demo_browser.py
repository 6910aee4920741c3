"""The demo shop in a real browser (headless Chromium, driven by Playwright): a referred friend
buys with the friend's discount, and a referrer spends her credit at checkout.

The set-up is the dashboard's (tests/test_dashboard_browser.py): Debian's /usr/bin/chromium,
the app served on 127.0.0.1 from a thread; without Chromium or Playwright the tests skip
(fail under ``CI=true``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from refkit import ReferralProgram
from refkit_flask import RefKitState
from refkit_flask.demo import create_app, db

from .support.browser_fixtures import loopback
from .support.shop import BROWSER

pytestmark = pytest.mark.browser

#: The demo's A/B test of welcome offers: each variant's discount off the first order.
OFFERS = {"A": Decimal("5.00"), "B": Decimal("10.00")}


def program_of(app: Flask) -> ReferralProgram:
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    return state.program


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    shop = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "TESTING": True,
            "REFKIT_RAISE_ERRORS": True,
            "DEMO_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    yield shop
    program_of(shop).store.close()


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    with loopback(app, "demo-server") as base:
        yield base


def user_id(app: Flask, email: str) -> int:
    conn = db.connect(app.config["SHOP_DATABASE"])
    try:
        user = db.user_by_email(conn, email)
    finally:
        conn.close()
    assert user is not None
    return user.id


def new_page(chromium: Any) -> Any:
    context = chromium.new_context(user_agent=BROWSER)  # "HeadlessChrome" counts as a bot
    context.set_default_timeout(15_000)
    return context.new_page()


def buy(page: Any, product: str, *, use_credit: bool = False) -> None:
    item = page.locator("li.product", has_text=product)
    if use_credit:
        item.get_by_label("Pay with my credit").check()
    item.get_by_role("button", name="Buy now").click()
    page.wait_for_url("**/orders/DS-*")


def test_a_friend_buys_with_the_discount_in_chromium(
    chromium: Any, server: str, app: Flask
) -> None:
    with app.app_context():
        code = program_of(app).code_for(user_id(app, "alice@example.com"))
    page = new_page(chromium)
    page.goto(f"{server}/r/{code}")
    landed = page.content()
    assert "Alice Martin invited you" in landed
    # The landing showed her one of the two welcome offers (the demo's A/B test), at random.
    shown = re.search(r"Alice Martin invited you: (\d+\.\d\d) EUR off", landed)
    assert shown is not None
    page.goto(f"{server}/signup")
    page.get_by_label("Name").fill("Grace Hopper")
    page.get_by_label("Email").fill("grace@example.com")
    page.get_by_label("Password").fill("cobol-1959")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{server}/")
    with app.app_context():
        referral = program_of(app).referral_for(user_id(app, "grace@example.com"))
    assert referral is not None
    off = OFFERS[str(referral.variant)]  # the variant she was shown is the one stored
    assert shown.group(1) == f"{off}"
    shop = page.content()
    assert f"Alice Martin invited you: {off} EUR off" in shop
    assert "<s>39.00 EUR</s>" in shop
    buy(page, "Pour-over coffee kit")
    confirmation = page.content()
    assert f"{Decimal('39.00') - off} EUR" in confirmation
    assert f"took {off} EUR off this order" in confirmation
    with app.app_context():
        conversion = program_of(app).conversion(page.url.rsplit("/", 1)[1])
    assert conversion is not None
    assert conversion.amount == Decimal("39.00") - off
    assert [r.value for r in conversion.rewards if r.kind == "discount"] == [off]
    page.goto(f"{server}/")
    assert f"invited you: {off} EUR off" not in page.content()  # used on the first order


def test_a_referrer_spends_her_credit_in_chromium(chromium: Any, server: str, app: Flask) -> None:
    alice = str(user_id(app, "alice@example.com"))
    with app.app_context():
        credit = program_of(app).balance(alice, "EUR")
    assert isinstance(credit, Decimal)
    assert credit > 0, "the seeded story gives alice approved credit"
    page = new_page(chromium)
    page.goto(f"{server}/login")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password").fill("demo-alice")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/")
    assert f"{credit:,.2f} EUR</strong> of credit to spend" in page.content()
    # The grinder costs more than her credit (with her milestone bonus): all of it is spent.
    buy(page, "Espresso grinder", use_credit=True)
    assert f"You paid {credit:,.2f} EUR of this order with your credit" in page.content()
    assert f"{Decimal('249.00') - credit:,.2f} EUR" in page.content()
    reference = page.url.rsplit("/", 1)[1]
    with app.app_context():
        program = program_of(app)
        assert program.balance(alice, "EUR") == 0
        spent = [e for e in program.ledger(alice) if e.kind == "redeemed"]
    assert [(e.reference, -e.approved) for e in spent] == [(reference, credit)]
