"""Flask: the click's and the signup's fraud signals, as hashes, and the review list."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from flask import Flask
from flask.testing import FlaskClient

import refkit
from refkit.dashboard import data as dashboard

from .support.shop import BROWSER, browser, cookie_payload, program_of

RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"), hold_period=timedelta(days=14)
)


def _signup(client: FlaskClient, user: str, ip: str, agent: str = BROWSER) -> None:
    response = client.post(
        "/signup",
        data={"user": user},
        environ_base={"REMOTE_ADDR": ip, "HTTP_USER_AGENT": agent},
    )
    assert response.status_code == 200


def test_the_cookie_carries_hashes_of_the_click_never_the_raw_values(
    app: Flask, alice_code: str
) -> None:
    client = browser(app)
    client.get(f"/r/{alice_code}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    payload = cookie_payload(app, client)
    assert payload is not None
    expected = program_of(app).fingerprint(ip="203.0.113.7", user_agent=BROWSER)
    assert payload["fp"] == [expected.ip, expected.user_agent]
    cookie = client.get_cookie("refkit_referral")
    text = repr(payload) + (cookie.value if cookie else "")
    assert "203.0.113" not in text
    assert "Firefox" not in text


def test_signup_from_the_clicking_device_is_flagged(make_shop: object) -> None:
    app = make_shop(REFKIT_FLAG_SAME_DEVICE=True)  # type: ignore[operator]
    alice_code = program_of(app).code_for("alice")
    client = browser(app)
    client.get(f"/r/{alice_code}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    _signup(client, "bob", "203.0.113.7")
    (flagged,) = program_of(app).flagged_referrals()
    assert (flagged.referee_id, flagged.reasons) == ("bob", ("same_device",))


def test_same_device_is_not_checked_by_default(app: Flask, alice_code: str) -> None:
    client = browser(app)
    client.get(f"/r/{alice_code}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    _signup(client, "bob", "203.0.113.7")
    assert program_of(app).flagged_referrals() == []


def test_signup_from_another_device_is_not_flagged(make_shop: object) -> None:
    app = make_shop(REFKIT_FLAG_SAME_DEVICE=True)  # type: ignore[operator]
    alice_code = program_of(app).code_for("alice")
    client = browser(app)
    client.get(f"/r/{alice_code}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    _signup(client, "bob", "198.51.100.9")
    assert program_of(app).referral_for("bob") is not None
    assert program_of(app).flagged_referrals() == []


def test_a_fast_checkout_after_the_click_is_flagged(
    make_shop: object, clock: refkit.FrozenClock
) -> None:
    app = make_shop(rules=RULES)  # type: ignore[operator]
    client = browser(app)
    client.get(f"/r/{program_of(app).code_for('alice')}", environ_base={"REMOTE_ADDR": "1.1.1.1"})
    _signup(client, "bob", "2.2.2.2")
    clock.advance(seconds=20)
    client.post("/checkout", data={"order": "o1", "customer": "bob"})
    assert [f.reasons for f in program_of(app).flagged_referrals()] == [("fast_purchase",)]
    clock.advance(days=15)
    assert program_of(app).approve_due() == []


def test_the_dashboard_lists_referrals_to_review(make_shop: object) -> None:
    app = make_shop(REFKIT_FLAG_SAME_DEVICE=True)  # type: ignore[operator]
    alice_code = program_of(app).code_for("alice")
    client = browser(app)
    client.get(f"/r/{alice_code}", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    _signup(client, "bob", "203.0.113.7")
    (row,) = dashboard.flagged_referrals(program_of(app))
    assert (row.referee_id, row.referrer_id) == ("bob", "alice")
    assert "same IP address" in row.reason
    ext = app.extensions["refkit"].extension
    ext.admin_check(lambda: True)
    page = client.get("/refkit/admin").get_data(as_text=True)
    flagged = page.split('id="flagged"', 1)[1].split("</section>", 1)[0]
    assert "<table" in flagged
    assert "bob" in flagged
    assert "same IP address" in flagged
    program_of(app).clear_flags("bob")
    assert dashboard.flagged_referrals(program_of(app)) == []
