"""Two Django shops behind one interface, for tests/test_django_holes.py: the docs' example
before refkit_django (:mod:`tests.support.old_django_example`) and the shop of
:mod:`tests.support.django_site` built on refkit_django.

Both run the same rules on the test's store and clock; a scenario drives either through
Django's test client and reads the outcome from the program.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import refkit

from .shop import BROWSER

OLD = "old example"
APP = "refkit_django"
OLD_MODULE = "tests.support.old_django_example"
OLD_FILE = Path(__file__).with_name("old_django_example.py")
#: The old example's rules.
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    attribution_window=timedelta(days=30),
)


def unique(prefix: str) -> str:
    """A name no other test used (Django's users live for the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def store_env(url: str | None) -> Iterator[None]:
    """``REFKIT_DATABASE_URL`` (the old example's store) set to ``url``, or unset."""
    saved = os.environ.pop("REFKIT_DATABASE_URL", None)
    if url is not None:
        os.environ["REFKIT_DATABASE_URL"] = url
    try:
        yield
    finally:
        os.environ.pop("REFKIT_DATABASE_URL", None)
        if saved is not None:
            os.environ["REFKIT_DATABASE_URL"] = saved


def old_module() -> ModuleType:
    """The old example imported once (its own program on a throwaway in-memory store; each
    :class:`OldShop` replaces it with one on the test's store)."""
    with store_env("memory://"):
        return importlib.import_module(OLD_MODULE)


def fresh_old_module(store: str | None) -> ModuleType:
    """The old example executed afresh (its program built from the current settings and
    ``REFKIT_DATABASE_URL``; ``None``: unset, so its default store)."""
    name = unique("old_django_example").replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, OLD_FILE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with store_env(store):
        spec.loader.exec_module(module)
    return module


def client(user_agent: str = BROWSER) -> Any:
    from django.test import Client

    return Client(HTTP_USER_AGENT=user_agent)


@dataclass
class OldShop:
    """The old example, routed by ``override_settings`` (its URLs and middleware)."""

    program: refkit.ReferralProgram
    module: ModuleType
    kind: str = OLD

    def signup(self, browser: Any, name: str, email: str = "") -> str:
        """Sign up; the old example's user id is the posted email."""
        user = email or name
        answer = browser.post("/signup", {"email": user})
        assert answer.status_code == 302
        return user

    def checkout(self, browser: Any, order_id: str, amount: str, customer: str) -> Any:
        answer = browser.post(
            "/orders/paid", {"order_id": order_id, "email": customer, "amount": amount}
        )
        assert answer.status_code == 200
        return answer

    def checkout_rolled_back(self, browser: Any, order_id: str, customer: str) -> None:
        """The old checkout called inside the shop's ``atomic`` block, which then rolls back."""
        from django.db import transaction
        from django.test import RequestFactory

        request = RequestFactory().post(
            "/orders/paid", {"order_id": order_id, "email": customer, "amount": "30.00"}
        )
        request.COOKIES.update({k: m.value for k, m in browser.cookies.items()})
        with contextlib.suppress(RuntimeError), transaction.atomic():
            self.module.order_paid(request)
            raise RuntimeError("the order failed")


@dataclass
class AppShop:
    """The test site's shop on refkit_django."""

    program: refkit.ReferralProgram
    kind: str = APP

    def signup(self, browser: Any, name: str, email: str = "") -> str:
        """Sign up (a Django user, logged in); the user id is the user's primary key."""
        answer = browser.post("/signup", {"username": name, "email": email})
        assert answer.status_code == 200
        from django.contrib.auth import get_user_model

        return str(get_user_model().objects.get(username=name).pk)

    def checkout(self, browser: Any, order_id: str, amount: str, customer: str) -> Any:
        """The logged-in customer's order (``customer`` names them for the old example)."""
        answer = browser.post("/checkout", {"order_id": order_id, "amount": amount})
        assert answer.status_code == 200
        return answer

    def checkout_rolled_back(self, browser: Any, order_id: str, customer: str) -> None:
        answer = browser.post(
            "/checkout-atomic", {"order_id": order_id, "amount": "30.00", "rollback": "1"}
        )
        assert answer.status_code == 500


Shop = OldShop | AppShop


@contextlib.contextmanager
def old_shop(program: refkit.ReferralProgram) -> Iterator[OldShop]:
    """The old example on ``program`` (its module's ``program`` replaced for the test)."""
    from django.test import override_settings

    module = old_module()
    kept = module.program
    module.program = program
    routes = override_settings(
        ROOT_URLCONF=OLD_MODULE,
        MIDDLEWARE=[
            "django.middleware.csrf.CsrfViewMiddleware",
            f"{OLD_MODULE}.ReferralMiddleware",
        ],
    )
    routes.enable()
    try:
        yield OldShop(program, module)
    finally:
        routes.disable()
        module.program = kept
