"""A small shop app for the Flask extension's tests, and helpers to look into it.

The fixtures that build it (``make_shop``, ``app``, ``ext``, ``client``, ``alice_code``) are in
:mod:`tests.support.shop_fixtures`, which ``conftest.py`` registers.
Every app keeps its data in an SQLite file under ``tmp_path`` and runs on the ``clock`` fixture
(a :class:`refkit.FrozenClock`). The logged-in user is whatever the request's ``X-User`` header
says.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask, has_request_context, redirect, request
from flask.testing import FlaskClient

import refkit
from refkit_flask import RefKit, RefKitState

SECRET = "flask-test-secret-0123456789abcdefghijklmnop"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"

MakeShop = Callable[..., Flask]


def new_app(tmp_path: Path, name: str = "shop", **config: Any) -> Flask:
    """A bare Flask app (no refkit yet) with its instance folder and database in tmp_path."""
    app = Flask(name, instance_path=str(tmp_path / f"{name}-instance"))
    app.config.update(
        TESTING=True,
        REFKIT_SECRET_KEY=SECRET,
        REFKIT_DATABASE_URL=f"sqlite:///{tmp_path / f'{name}.db'}",
    )
    app.config.update(config)
    return app


def add_shop_views(app: Flask, ext: RefKit) -> None:
    """``/`` (a page), ``/signup``, ``/checkout`` (tracked) and ``/webhook`` (not tracked)."""

    @ext.user_loader
    def current_user() -> str | None:
        return request.headers.get("X-User") if has_request_context() else None

    @app.get("/")
    def home() -> str:
        return "home"

    @app.post("/signup")
    def signup() -> dict[str, Any]:
        referral = ext.attribute_signup(request.form["user"])
        return {"referrer": referral.referrer_id if referral else None}

    @app.post("/checkout")
    @ext.track_conversion
    def checkout() -> Any:
        form = request.form
        ext.conversion(
            order_id=form["order"],
            amount=form.get("amount", "30"),
            currency="EUR",
            customer_id=form.get("customer"),
        )
        if form.get("outcome") == "raise":
            raise RuntimeError("the payment provider is down")
        if form.get("outcome") == "redirect":
            return redirect("/thanks")
        return "thanks", int(form.get("status", 200))

    @app.post("/webhook")
    def webhook() -> dict[str, Any]:
        form = request.form
        conversion = ext.conversion(
            order_id=form["order"], amount="30", currency="EUR", customer_id=form["customer"]
        )
        return {"recorded": conversion is not None}


def state_of(app: Flask) -> RefKitState:
    state: RefKitState = app.extensions["refkit"]
    return state


def program_of(app: Flask) -> refkit.ReferralProgram:
    return state_of(app).program


def code_of(app: Flask, user_id: str) -> str:
    return program_of(app).code_for(user_id)


def visits(app: Flask, user_id: str) -> int:
    return program_of(app).stats_for(user_id).visits


def browser(app: Flask) -> FlaskClient:
    """A test client that says it is Firefox (refkit ignores bots)."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    return client


def cookie_payload(app: Flask, client: FlaskClient) -> dict[str, Any] | None:
    """The referral cookie the client holds, decoded (None if it holds none)."""
    state = state_of(app)
    cookie = client.get_cookie(state.settings.cookie_name)
    if cookie is None:
        return None
    payload: dict[str, Any] = state.cookies.loads(cookie.value)
    return payload


def set_cookie_header(response: Any) -> str:
    headers: list[str] = response.headers.getlist("Set-Cookie")
    return "; ".join(headers)
