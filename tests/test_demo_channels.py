"""The demo shop's share buttons, QR code and channels panel, on its seeded story."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from refkit_flask import RefKitState
from refkit_flask.demo import create_app

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36"


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Flask]:
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "TESTING": True,
            "REFKIT_RAISE_ERRORS": True,
            "DEMO_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    yield app
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    state.program.store.close()


def logged_in(app: Flask, email: str, password: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    page = client.get("/login").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    form = {"email": email, "password": password, "csrf_token": found.group(1)}
    assert client.post("/login", data=form).status_code == 302
    return client


def test_the_invite_page_has_share_buttons_and_a_qr_code(demo: Flask) -> None:
    page = logged_in(demo, "alice@example.com", "demo-alice").get("/invite").get_data(as_text=True)
    for channel in ("email", "whatsapp", "x", "facebook", "telegram", "sms"):
        found = re.search(rf'id="share-{channel}" href="([^"]+)"', page)
        assert found is not None, channel
        assert f"ref_channel%3D{channel}" in found.group(1)
    assert page.count('class="refkit-qr"') == 1


def test_the_dashboard_shows_the_seeded_channels(demo: Flask) -> None:
    owner = logged_in(demo, "owner@example.com", "demo-owner")
    page = owner.get("/refkit/admin?days=all").get_data(as_text=True)
    panel = page.split('id="channels"', 1)[1].split("</section>", 1)[0]
    shown = re.findall(r'data-channel="([^"]*)"', panel)
    assert sorted(shown) == ["email", "qr", "sms", "whatsapp"]
