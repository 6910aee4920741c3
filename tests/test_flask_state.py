"""refkit_flask's per-app state (one get_state) and its per-request state (g._refkit)."""

from __future__ import annotations

import pytest
from flask import Flask, g

from refkit_flask.state import RefKitState, RequestState, get_state
from tests.support.shop import BROWSER, MakeShop, code_of, program_of, state_of


def test_get_state_finds_the_apps_state(app: Flask) -> None:
    with app.app_context():
        assert get_state() is app.extensions["refkit"]
    assert get_state(app) is state_of(app)
    assert isinstance(get_state(app), RefKitState)


def test_get_state_says_how_to_set_refkit_up() -> None:
    with pytest.raises(RuntimeError, match=r"RefKit\(app\) or refkit.init_app\(app\)"):
        get_state(Flask("bare"))


def test_one_extension_keeps_each_apps_state_apart(make_shop: MakeShop) -> None:
    first, second = make_shop("first"), make_shop("second")
    assert get_state(first).program is not get_state(second).program
    assert get_state(first).extension is not None


def test_request_state_lives_in_g_refkit_and_the_same_request_reads_it(
    app: Flask, alice_code: str
) -> None:
    ext = state_of(app).extension
    headers = {"User-Agent": BROWSER, "X-User": "bob"}
    with app.test_request_context(f"/?ref={alice_code}", headers=headers):
        app.preprocess_request()  # the ?ref= capture
        requested = g._refkit
        assert isinstance(requested, RequestState)
        assert requested.cookie is not None
        assert requested.cookie["code"] == alice_code
        assert [name for name in vars(g) if name.startswith("_refkit")] == ["_refkit"]
        # The code captured on this very request is the one a signup here binds to.
        assert ext.captured_code() == alice_code
        referral = ext.attribute_signup("bob")
        assert referral is not None
        assert referral.referrer_id == "alice"
    assert program_of(app).referral_for("bob") is not None


def test_a_request_without_a_code_has_none(app: Flask) -> None:
    ext = state_of(app).extension
    code_of(app, "alice")
    with app.test_request_context("/", headers={"User-Agent": BROWSER}):
        app.preprocess_request()
        assert ext.captured_code() is None
        assert ext.attribute_signup("bob") is None
