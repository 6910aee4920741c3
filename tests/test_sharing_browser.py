"""The QR code in Chromium: qr_svg's SVG, and the invite snippet's inline QR code under the
strict Content-Security-Policy, rendered, screenshotted and decoded by a real QR reader
(zxing-cpp) back to the exact link."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import zxingcpp
from flask import Flask, render_template_string, request
from PIL import Image

import refkit
from refkit_flask.headers import DEFAULT_SECURITY_HEADERS

from .support.browser_fixtures import loopback
from .support.shop import MakeShop, code_of, state_of

HOSTILE_URL = 'https://shop.example/p?x="><svg onload=alert(1)>&y=</text>&z=%26'
HOSTILE_CAMPAIGN = '"><svg onload=alert(1)></text>&amp;'


def decode(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png)).convert("L")
    return [found.text for found in zxingcpp.read_barcodes(image)]


def test_qr_svg_rendered_by_chromium_decodes_to_the_qr_link(
    chromium: Any, program: refkit.ReferralProgram
) -> None:
    svg = program.qr_svg("alice", HOSTILE_URL, campaign="poster")
    link = program.link_for("alice", HOSTILE_URL, "poster", "qr")
    page = chromium.new_page()
    try:
        page.set_content(f"<!doctype html><html><body>{svg}</body></html>")
        shot = page.locator("svg.refkit-qr").screenshot()
        assert page.locator("svg").count() == 1  # nothing in the link broke out of the SVG
    finally:
        page.close()
    assert decode(shot) == [link]


@pytest.fixture
def shop(make_shop: MakeShop) -> Flask:
    """A shop whose /invite includes refkit's invite snippet, under refkit's strict CSP."""
    app = make_shop(REFKIT_SHARE_TEXT='Hi & welcome "friend" </text>')

    @app.get("/invite")
    def invite() -> str:
        return render_template_string(
            '<!doctype html><html lang="en"><head><title>Invite</title>'
            '<link rel="icon" href="data:,"></head><body>{% with refkit_campaign=campaign %}'
            '{% include "refkit/invite.html" %}{% endwith %}</body></html>',
            campaign=request.args.get("campaign"),
        )

    @app.after_request
    def strict(response: Any) -> Any:
        response.headers.update(DEFAULT_SECURITY_HEADERS)
        return response

    return app


@pytest.fixture
def server(shop: Flask) -> Iterator[str]:
    """The shop on 127.0.0.1 (loopback only), on a free port, until the test ends."""
    with loopback(shop, "invite-server") as base:
        yield base


def test_the_invite_snippets_qr_code_decodes_to_the_qr_link_under_a_strict_csp(
    chromium: Any, server: str, shop: Flask
) -> None:
    context = chromium.new_context(
        viewport={"width": 375, "height": 900}, extra_http_headers={"X-User": "alice"}
    )
    context.set_default_timeout(15_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    try:
        response = page.goto(f"{server}/invite?campaign={quote(HOSTILE_CAMPAIGN, safe='')}")
        assert response is not None
        assert response.status == 200
        assert "default-src 'none'" in response.headers["content-security-policy"]
        shot = page.locator(".refkit-invite__qr svg").screenshot()
        assert page.locator("svg").count() == 1  # the campaign opened no element
        hrefs = page.locator(".refkit-invite__share").evaluate_all(
            "links => links.map(link => link.getAttribute('href'))"
        )
    finally:
        context.close()
    with shop.test_request_context(base_url=server, headers={"X-User": "alice"}):
        ext = state_of(shop).extension
        qr_link = ext.share_link("alice", HOSTILE_CAMPAIGN, channel="qr")
        shares = ext.share_links("alice", HOSTILE_CAMPAIGN)
    code = code_of(shop, "alice")
    assert qr_link is not None
    assert qr_link.startswith(f"{server}/r/{code}?campaign=")
    assert parse_qs(urlsplit(qr_link).query) == {
        "campaign": [HOSTILE_CAMPAIGN],
        "ref_channel": ["qr"],
    }
    assert decode(shot) == [qr_link]
    assert shares is not None
    assert hrefs == list(shares.values())
    assert problems == []  # no CSP violation, no error
