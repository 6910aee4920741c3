"""The Django shop's fixtures (a pytest plugin for refkit_django's tests).

``django_site`` sets refkit up on the shop of :mod:`tests.support.django_site` for each store
(memory, SQLite file, PostgreSQL): ``REFKIT["TEST_STORE"]`` is the store under Django's test
environment, which the session sets up.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

import refkit


@pytest.fixture(scope="session")
def django_environment() -> Iterator[None]:
    """Django configured, its test environment set up, and its in-memory database migrated."""
    pytest.importorskip("django", reason="the django extra installs Django")
    from django.core.management import call_command
    from django.test.utils import setup_test_environment, teardown_test_environment

    from tests.support import django_site  # noqa: F401  (configures Django)

    setup_test_environment()
    call_command("migrate", verbosity=0, interactive=False)
    yield
    teardown_test_environment()


RefkitSettings = Callable[..., Any]


@pytest.fixture
def django_refkit(
    django_environment: None, store_url: str, clock: refkit.FrozenClock
) -> Iterator[Callable[..., refkit.ReferralProgram]]:
    """``django_refkit(RULES=..., ...)``: set ``settings.REFKIT`` (on this test's store and
    clock) and return the site's program."""
    from django.test import override_settings

    import refkit_django

    overrides: list[Any] = []

    def configure(**options: Any) -> refkit.ReferralProgram:
        options.setdefault("TEST_STORE", store_url)
        options.setdefault("CLOCK", clock)
        override = override_settings(REFKIT=options)
        override.enable()
        overrides.append(override)
        return refkit_django.program()

    yield configure
    for override in reversed(overrides):
        override.disable()
    refkit_django.reset()


@pytest.fixture
def double_sided() -> refkit.RewardRules:
    """A double-sided program with the friend's discount, every order over 20 EUR."""
    return refkit.RewardRules(
        currency="EUR",
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=Decimal("20"),
    )
