"""A small Django shop with a double-sided referral program: ``python -m refkit_django.demo``.

Sign up, share your link from the home page, open it in another browser (or a private
window), sign up there and buy: the friend gets 5 EUR off the first order and the referrer
earns 10 EUR. ``owner`` (password ``owner``) sees the dashboard at ``/refkit/admin/``.

The settings are :func:`settings`, the views and routes are in this module
(``ROOT_URLCONF``); data lives in SQLite files in the ``--data`` folder.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import refkit

__all__ = ["MIDDLEWARE", "PRODUCTS", "REFKIT", "settings"]

#: What the shop sells: slug -> (name, price in EUR).
PRODUCTS: dict[str, tuple[str, Decimal]] = {
    "beans": ("Coffee beans, 1 kg", Decimal("40.00")),
    "mug": ("A mug", Decimal("12.00")),
}
REFKIT: dict[str, Any] = {
    "RULES": refkit.RewardRules(
        currency="EUR",
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
        min_order_amount=Decimal("20"),
    ),
}
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "refkit_django.middleware.ReferralMiddleware",
]


def settings(data: Path, secret_key: str) -> dict[str, Any]:
    """The demo's Django settings, keeping its databases in ``data``."""
    return {
        "DEBUG": False,
        "BASE_DIR": data,
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        "INSTALLED_APPS": [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "refkit_django",
        ],
        "MIDDLEWARE": MIDDLEWARE,
        "ROOT_URLCONF": "refkit_django.demo.shop",
        "DATABASES": {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": data / "shop.db"}
        },
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                    ]
                },
            }
        ],
        "USE_TZ": True,
        "LOGIN_URL": "/login",
        "DEFAULT_AUTO_FIELD": "django.db.models.AutoField",
        "REFKIT": REFKIT,  # refkit.db in BASE_DIR
    }
