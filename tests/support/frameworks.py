"""The same shop on Flask and on Django, behind one interface, for
tests/test_framework_behaviour.py.

:func:`flask_shop` builds a Flask app on :class:`refkit_flask.RefKit` (the app of
:mod:`tests.support.shop`, with a signup that passes the email, a checkout that claims the
friend's discount, and an owner); the Django shop is the site of
:mod:`tests.support.django_site`. Both run the same rules on the test's store and clock; the
logged-in user is the ``X-User`` header on Flask, Django's session on Django; the owner may
see the dashboard (Flask's ``admin_check``, Django's ``refkit_django.view_dashboard``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

from flask import Flask, has_request_context, request

import refkit
from refkit_flask import RefKit

from .shop import BROWSER, new_app, state_of

FLASK = "flask"
DJANGO = "django"
COOKIE = "refkit_referral"
#: A double-sided program: 10 EUR to the referrer, 5 EUR off the friend's order over 20 EUR.
RULES = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
    min_order_amount=Decimal("20"),
)
OWNER = "owner"


def unique(prefix: str) -> str:
    """A name no other test used (Django's users live for the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Browser(Protocol):
    """A visitor of either shop."""

    def get(self, path: str, **query: str) -> int: ...
    def head(self, path: str, **query: str) -> int: ...
    def signup(self, name: str, email: str = "") -> tuple[str, str | None]: ...
    def checkout(
        self, order_id: str, amount: str, currency: str = "EUR", customer: str | None = None
    ) -> dict[str, Any]: ...
    def offer(self, amount: str, currency: str = "EUR") -> dict[str, Any]: ...
    def dashboard(self) -> tuple[int, str]: ...
    def cookie(self) -> str | None: ...
    def set_cookie(self, value: str) -> None: ...


class Shop(Protocol):
    framework: str
    program: refkit.ReferralProgram

    def browser(self, user_agent: str = BROWSER) -> Browser: ...
    def owner(self) -> Browser: ...
    def captured(self, browser: Browser) -> str | None: ...


# -- Flask ---------------------------------------------------------------------------------


def flask_app(tmp_path: Path, store_url: str, clock: refkit.FrozenClock) -> Flask:
    app = new_app(tmp_path, unique("shop"))
    ext = RefKit(app, clock=clock, store=store_url, rules=RULES)

    @ext.user_loader
    def current_user() -> str | None:
        return request.headers.get("X-User") if has_request_context() else None

    @ext.admin_check
    def is_owner() -> bool:
        return request.headers.get("X-User") == OWNER

    @app.get("/")
    def home() -> str:
        return "Welcome to the shop"

    @app.post("/signup")
    def signup() -> dict[str, Any]:
        form = request.form
        referral = ext.attribute_signup(form["user"], email=form.get("email") or None)
        return {"referrer": referral.referrer_id if referral else None}

    @app.post("/checkout")
    @ext.track_conversion
    def checkout() -> dict[str, Any]:
        form = request.form
        amount, currency = Decimal(form["amount"]), form.get("currency", "EUR")
        customer = form.get("customer_id") or None
        claim = ext.claim_discount(form["order_id"], amount, currency, customer_id=customer)
        paid = amount - claim.discount
        ext.conversion(form["order_id"], paid, currency, customer_id=customer)
        return {"paid": str(paid), "discount": str(claim.discount)}

    return app


class FlaskBrowser:
    def __init__(self, app: Flask, user_agent: str, user: str | None = None) -> None:
        self.http = app.test_client()
        self.http.environ_base["HTTP_USER_AGENT"] = user_agent
        if user is not None:
            self.http.environ_base["HTTP_X_USER"] = user

    def get(self, path: str, **query: str) -> int:
        return self.http.get(path, query_string=query).status_code

    def head(self, path: str, **query: str) -> int:
        return self.http.head(path, query_string=query).status_code

    def signup(self, name: str, email: str = "") -> tuple[str, str | None]:
        """Sign up and log in as ``name`` (the user id)."""
        answer = self.http.post("/signup", data={"user": name, "email": email})
        assert answer.status_code == 200
        self.http.environ_base["HTTP_X_USER"] = name
        return name, answer.get_json()["referrer"]

    def checkout(
        self, order_id: str, amount: str, currency: str = "EUR", customer: str | None = None
    ) -> dict[str, Any]:
        data = {"order_id": order_id, "amount": amount, "currency": currency}
        answer = self.http.post("/checkout", data={**data, "customer_id": customer or ""})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.get_json()
        return body

    def offer(self, amount: str, currency: str = "EUR") -> dict[str, Any]:
        answer = self.http.get(
            "/refkit/api/offer", query_string={"amount": amount, "currency": currency}
        )
        assert answer.status_code == 200
        body: dict[str, Any] = answer.get_json()
        return body

    def dashboard(self) -> tuple[int, str]:
        answer = self.http.get("/refkit/admin")
        return answer.status_code, answer.get_data(as_text=True)

    def cookie(self) -> str | None:
        found = self.http.get_cookie(COOKIE)
        return None if found is None or not found.value else found.value

    def set_cookie(self, value: str) -> None:
        self.http.set_cookie(COOKIE, value)


@dataclass
class FlaskShop:
    app: Flask
    framework: str = FLASK

    @property
    def program(self) -> refkit.ReferralProgram:
        return state_of(self.app).program

    def browser(self, user_agent: str = BROWSER) -> Browser:
        return FlaskBrowser(self.app, user_agent)

    def owner(self) -> Browser:
        return FlaskBrowser(self.app, BROWSER, OWNER)

    def captured(self, browser: Browser) -> str | None:
        value = browser.cookie()
        if value is None:
            return None
        try:
            payload = state_of(self.app).cookies.loads(value)
        except refkit.InvalidToken:
            return None
        return str(payload["code"])


@contextmanager
def flask_shop(tmp_path: Path, store_url: str, clock: refkit.FrozenClock) -> Iterator[FlaskShop]:
    shop = FlaskShop(flask_app(tmp_path, store_url, clock))
    try:
        yield shop
    finally:
        shop.program.store.close()


# -- Django --------------------------------------------------------------------------------


class DjangoBrowser:
    def __init__(self, user_agent: str) -> None:
        from django.test import Client

        self.http = Client(HTTP_USER_AGENT=user_agent)

    def get(self, path: str, **query: str) -> int:
        return int(self.http.get(path, query).status_code)

    def head(self, path: str, **query: str) -> int:
        return int(self.http.head(path, query).status_code)

    def signup(self, name: str, email: str = "") -> tuple[str, str | None]:
        """Sign up (a Django user) and log in; the user id is its primary key."""
        answer = self.http.post("/signup", {"username": name, "email": email})
        assert answer.status_code == 200
        from django.contrib.auth import get_user_model

        user = str(get_user_model().objects.get(username=name).pk)
        return user, answer.json()["referrer"]

    def checkout(
        self, order_id: str, amount: str, currency: str = "EUR", customer: str | None = None
    ) -> dict[str, Any]:
        data = {"order_id": order_id, "amount": amount, "currency": currency}
        answer = self.http.post("/checkout", {**data, "customer_id": customer or ""})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def offer(self, amount: str, currency: str = "EUR") -> dict[str, Any]:
        answer = self.http.get("/refkit/api/offer", {"amount": amount, "currency": currency})
        assert answer.status_code == 200
        body: dict[str, Any] = answer.json()
        return body

    def dashboard(self) -> tuple[int, str]:
        answer = self.http.get("/refkit/admin/")
        return int(answer.status_code), answer.content.decode()

    def cookie(self) -> str | None:
        found = self.http.cookies.get(COOKIE)
        return None if found is None or not found.value else str(found.value)

    def set_cookie(self, value: str) -> None:
        self.http.cookies[COOKIE] = value


@dataclass
class DjangoShop:
    program: refkit.ReferralProgram
    framework: str = DJANGO

    def browser(self, user_agent: str = BROWSER) -> Browser:
        return DjangoBrowser(user_agent)

    def owner(self) -> Browser:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Permission

        user = get_user_model().objects.create_user(username=unique(OWNER))
        user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
        browser = DjangoBrowser(BROWSER)
        browser.http.force_login(user)
        return browser

    def captured(self, browser: Browser) -> str | None:
        from refkit_django.conf import get_state

        payload = get_state().cookie.load(browser.cookie())
        return None if payload is None else str(payload["code"])
