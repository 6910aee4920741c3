"""The ``REFKIT_*`` configuration keys, their defaults, and the settings read from them.

Every key is read once, in :meth:`RefKit.init_app <refkit_flask.RefKit.init_app>`, after
``app.config.setdefault`` has filled in the defaults below; change them before ``init_app``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask

from refkit import ConfigurationError, RewardRules

__all__ = ["DEFAULTS", "Settings", "read_settings"]

#: Each key and its default. ``None`` for ``REFKIT_SECRET_KEY`` means "use ``SECRET_KEY``";
#: for ``REFKIT_DATABASE_URL``, "an SQLite file ``refkit.db`` in ``app.instance_path``"; for
#: ``REFKIT_COOKIE_MAX_AGE``, "the rules' attribution window, else 30 days".
DEFAULTS: dict[str, Any] = {
    "REFKIT_SECRET_KEY": None,
    "REFKIT_DATABASE_URL": None,
    "REFKIT_RULES": None,
    "REFKIT_QUERY_PARAM": "ref",
    "REFKIT_CAMPAIGN_PARAM": "campaign",
    "REFKIT_COOKIE_NAME": "refkit_referral",
    "REFKIT_COOKIE_MAX_AGE": None,
    "REFKIT_URL_PREFIX": "/refkit",
    "REFKIT_LANDING_PATH": "/r",
    "REFKIT_LANDING_REDIRECT": "/",
    "REFKIT_CAPTURE_ALL_PAGES": True,
    "REFKIT_FLAG_SAME_DEVICE": False,
    "REFKIT_RAISE_ERRORS": False,
    "REFKIT_SECURITY_HEADERS": {},
}

DEFAULT_COOKIE_MAX_AGE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Settings:
    """The extension's settings for one app, read from its config."""

    secret_key: str | bytes | list[str | bytes]
    store: Any
    rules: RewardRules | None
    query_param: str
    campaign_param: str
    cookie_name: str
    cookie_max_age: timedelta
    url_prefix: str
    landing_path: str
    landing_redirect: str
    capture_all_pages: bool
    raise_errors: bool
    flag_same_device: bool = False


def _seconds(value: Any, key: str) -> timedelta:
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int) and not isinstance(value, bool):
        result = timedelta(seconds=value)
    else:
        raise ConfigurationError(f"{key} must be a timedelta or a number of seconds")
    if result <= timedelta(0):
        raise ConfigurationError(f"{key} must be positive")
    return result


def read_settings(app: Flask, options: dict[str, Any]) -> Settings:
    """Fill in the defaults and read the settings; ``options`` given to ``RefKit(...)`` win
    over the config for ``store`` and ``rules``.

    :raises ConfigurationError: no usable secret key, or a bad value.
    """
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    config = app.config
    secret = config["REFKIT_SECRET_KEY"] or config.get("SECRET_KEY")
    if not secret:
        raise ConfigurationError(
            "refkit needs REFKIT_SECRET_KEY (or SECRET_KEY): at least 32 random characters"
        )
    rules = options.get("rules", config["REFKIT_RULES"])
    if rules is not None and not isinstance(rules, RewardRules):
        raise ConfigurationError("REFKIT_RULES must be a refkit.RewardRules or None")
    store = options.get("store") or config["REFKIT_DATABASE_URL"]
    if store is None:
        os.makedirs(app.instance_path, exist_ok=True)
        store = f"sqlite:///{os.path.join(app.instance_path, 'refkit.db')}"
    max_age = config["REFKIT_COOKIE_MAX_AGE"]
    if max_age is None:
        window = rules.attribution_window if rules is not None else None
        max_age = window or DEFAULT_COOKIE_MAX_AGE
    prefix = "/" + str(config["REFKIT_URL_PREFIX"]).strip("/")
    landing = "/" + str(config["REFKIT_LANDING_PATH"]).strip("/")
    redirect_to = str(config["REFKIT_LANDING_REDIRECT"])
    if not redirect_to.startswith("/") or redirect_to.startswith("//"):
        raise ConfigurationError("REFKIT_LANDING_REDIRECT must be a local path such as '/'")
    for key in ("REFKIT_QUERY_PARAM", "REFKIT_CAMPAIGN_PARAM", "REFKIT_COOKIE_NAME"):
        if not isinstance(config[key], str) or not config[key]:
            raise ConfigurationError(f"{key} must be a non-empty str")
    return Settings(
        secret_key=secret,
        store=store,
        rules=rules,
        query_param=config["REFKIT_QUERY_PARAM"],
        campaign_param=config["REFKIT_CAMPAIGN_PARAM"],
        cookie_name=config["REFKIT_COOKIE_NAME"],
        cookie_max_age=_seconds(max_age, "REFKIT_COOKIE_MAX_AGE"),
        url_prefix=prefix,
        landing_path=landing,
        landing_redirect=redirect_to,
        capture_all_pages=bool(config["REFKIT_CAPTURE_ALL_PAGES"]),
        raise_errors=bool(config["REFKIT_RAISE_ERRORS"]),
        flag_same_device=bool(config["REFKIT_FLAG_SAME_DEVICE"]),
    )
