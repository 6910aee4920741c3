"""``attribute_signup(email=...)`` registers the email in every case, and the demo shop passes it.

A referrer who came on their own (no referral cookie) must still have their email registered,
or a second account on the same mailbox refers itself (issue 13, finding 1).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

import refkit
from refkit_flask import RefKit, RefKitState
from refkit_flask.demo import create_app
from tests.support.shop import MakeShop, browser, code_of, program_of


def sign_up(ext: RefKit, client: FlaskClient, user_id: str, email: str) -> refkit.Referral | None:
    with client:
        client.get("/")
        return ext.attribute_signup(user_id, email=email)


def test_a_signup_without_a_cookie_registers_the_email(
    app: Flask, ext: RefKit, client: FlaskClient
) -> None:
    assert sign_up(ext, client, "alice", "Alice.Smith@gmail.com") is None
    # Alice came on her own; her second account on the same mailbox follows her link.
    second = browser(app)
    second.get(f"/r/{code_of(app, 'alice')}")
    assert sign_up(ext, second, "alice-2", "alicesmith+again@googlemail.com") is None
    assert program_of(app).referral_for("alice-2") is None


def test_a_second_account_on_the_referrers_mailbox_is_refused_as_self_referral(
    make_shop: MakeShop,
) -> None:
    app = make_shop(REFKIT_RAISE_ERRORS=True)
    ext: RefKit = app.extensions["refkit"].extension
    sign_up(ext, browser(app), "alice", "alice@example.com")
    second = browser(app)
    second.get(f"/r/{code_of(app, 'alice')}")
    with pytest.raises(refkit.SelfReferral):
        sign_up(ext, second, "alice-2", "ALICE+2@example.com")
    # A different mailbox binds as before.
    third = browser(app)
    third.get(f"/r/{code_of(app, 'alice')}")
    referral = sign_up(ext, third, "carol", "carol@example.com")
    assert referral is not None
    assert referral.referrer_id == "alice"


def test_an_invalid_email_without_a_cookie_is_raised_under_testing_and_logged_otherwise(
    make_shop: MakeShop, caplog: pytest.LogCaptureFixture
) -> None:
    testing = make_shop("testing")  # TESTING=True: the shop's own mistake shows
    with pytest.raises(refkit.ValidationError):
        sign_up(testing.extensions["refkit"].extension, browser(testing), "alice", "not an address")
    production = make_shop("production", REFKIT_RAISE_ERRORS=False)
    ext: RefKit = production.extensions["refkit"].extension
    assert sign_up(ext, browser(production), "alice", "not an address") is None
    assert any(
        isinstance(r.exc_info and r.exc_info[1], refkit.ValidationError) for r in caplog.records
    )


# -- the demo shop ----------------------------------------------------------------------------


def demo_signup(client: FlaskClient, name: str, email: str) -> str:
    page = client.get("/signup").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    answer = client.post(
        "/signup",
        data={"name": name, "email": email, "password": "long-enough-1", "csrf_token": token[1]},
        follow_redirects=True,
    )
    assert answer.status_code == 200
    return answer.get_data(as_text=True)


def test_the_demo_shop_refuses_a_second_account_on_the_same_gmail_mailbox(tmp_path: Path) -> None:
    app = create_app(
        {
            "INSTANCE_PATH": tmp_path / "instance",
            "TESTING": True,
            "DEMO_HASH_METHOD": "pbkdf2:sha256:1000",
        }
    )
    state: RefKitState = app.extensions["refkit"]
    try:
        henry = app.test_client()
        demo_signup(henry, "Henry", "henry.ford@gmail.com")  # came on his own
        page = henry.get("/invite").get_data(as_text=True)
        link = re.search(r'id="share-link" readonly value="([^"]+)"', page)
        assert link
        for n, alias in enumerate(("henryford+1@gmail.com", "h.e.n.r.y.ford@googlemail.com")):
            again = app.test_client()
            again.environ_base["HTTP_USER_AGENT"] = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"
            again.get(link[1])
            welcome = demo_signup(again, f"Henry {n}", alias)
            assert "You were invited by a friend" not in welcome
        assert state.program.stats_for(henry_id(app)).signups == 0
    finally:
        state.program.store.close()


def henry_id(app: Flask) -> str:
    from refkit_flask.demo import db

    conn = db.connect(app.config["SHOP_DATABASE"])
    try:
        user = db.user_by_email(conn, "henry.ford@gmail.com")
    finally:
        conn.close()
    assert user is not None
    return str(user.id)
