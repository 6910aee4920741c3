"""The ``REFKIT_*`` configuration keys, their defaults, and the settings read from them.

Every key is read once, in :meth:`RefKit.init_app <refkit_flask.RefKit.init_app>`, after
``app.config.setdefault`` has filled in the defaults below; change them before ``init_app``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask

from refkit import ConfigurationError, Experiment, RewardRules, ValidationError
from refkit.capture import DEFAULT_BOT_USER_AGENTS
from refkit.clock import Clock, system_clock
from refkit.discounts import DEFAULT_CLAIM_TTL
from refkit.keys import MIN_KEY_LENGTH
from refkit.program import DEFAULT_FAST_PURCHASE, DEFAULT_SIGNAL_RETENTION
from refkit.sharing import DEFAULT_SHARE_SUBJECT, DEFAULT_SHARE_TEXT, to_share_text
from refkit.validation import to_optional_duration

__all__ = [
    "DEFAULTS",
    "DEFAULT_BOT_USER_AGENTS",
    "EXTENSION_OPTIONS",
    "OPTIONS",
    "Settings",
    "check_options",
    "read_settings",
]

#: The keyword options of ``RefKit(...)`` that are :class:`refkit.ReferralProgram` options;
#: each wins over its config key.
OPTIONS: dict[str, str] = {
    "secret_key": "REFKIT_SECRET_KEY",
    "store": "REFKIT_DATABASE_URL",
    "rules": "REFKIT_RULES",
    "clock": "REFKIT_CLOCK",
    "query_param": "REFKIT_QUERY_PARAM",
    "campaign_param": "REFKIT_CAMPAIGN_PARAM",
    "channel_param": "REFKIT_CHANNEL_PARAM",
    "share_text": "REFKIT_SHARE_TEXT",
    "share_subject": "REFKIT_SHARE_SUBJECT",
    "fast_purchase": "REFKIT_FAST_PURCHASE",
    "claim_ttl": "REFKIT_CLAIM_TTL",
    "signal_retention": "REFKIT_SIGNAL_RETENTION",
    "timeout": "REFKIT_TIMEOUT",
}
#: The extension's own keyword options of ``RefKit(...)``, each winning over its config key.
EXTENSION_OPTIONS: dict[str, str] = {"session": "REFKIT_SESSION"}
_KEY_HELP = (
    'generate one with: python -c "import secrets; print(secrets.token_urlsafe(32))" '
    "and set REFKIT_SECRET_KEY to it (a list [newest, older...] rotates keys)"
)

#: Each key and its default. ``None`` for ``REFKIT_SECRET_KEY`` means "use ``SECRET_KEY``";
#: for ``REFKIT_DATABASE_URL``, "an SQLite file ``refkit.db`` in ``app.instance_path``"; for
#: ``REFKIT_COOKIE_MAX_AGE``, "the rules' attribution window, else 30 days".
DEFAULTS: dict[str, Any] = {
    "REFKIT_SECRET_KEY": None,
    "REFKIT_DATABASE_URL": None,
    "REFKIT_RULES": None,
    "REFKIT_QUERY_PARAM": "ref",
    "REFKIT_CAMPAIGN_PARAM": "campaign",
    "REFKIT_CHANNEL_PARAM": "ref_channel",
    "REFKIT_SHARE_TEXT": DEFAULT_SHARE_TEXT,
    "REFKIT_SHARE_SUBJECT": DEFAULT_SHARE_SUBJECT,
    "REFKIT_COOKIE_NAME": "refkit_referral",
    "REFKIT_COOKIE_MAX_AGE": None,
    "REFKIT_URL_PREFIX": "/refkit",
    "REFKIT_LANDING_PATH": "/r",
    "REFKIT_LANDING_REDIRECT": "/",
    "REFKIT_CAPTURE_ALL_PAGES": True,
    "REFKIT_FLAG_SAME_DEVICE": False,
    "REFKIT_RAISE_ERRORS": None,
    "REFKIT_SECURITY_HEADERS": {},
    "REFKIT_CLOCK": None,
    "REFKIT_FAST_PURCHASE": DEFAULT_FAST_PURCHASE,
    "REFKIT_CLAIM_TTL": DEFAULT_CLAIM_TTL,
    "REFKIT_SIGNAL_RETENTION": DEFAULT_SIGNAL_RETENTION,
    "REFKIT_BOT_USER_AGENTS": None,
    "REFKIT_SESSION": None,
    "REFKIT_TIMEOUT": 2.0,
}

DEFAULT_COOKIE_MAX_AGE = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Settings:
    """The extension's settings for one app, read from its config."""

    secret_key: str | bytes | list[str | bytes]
    store: Any
    rules: RewardRules | Experiment | None
    query_param: str
    campaign_param: str
    cookie_name: str
    cookie_max_age: timedelta
    url_prefix: str
    landing_path: str
    landing_redirect: str
    capture_all_pages: bool
    raise_errors: bool | None
    flag_same_device: bool = False
    clock: Clock = system_clock
    fast_purchase: timedelta | None = DEFAULT_FAST_PURCHASE
    claim_ttl: timedelta = DEFAULT_CLAIM_TTL
    signal_retention: timedelta = DEFAULT_SIGNAL_RETENTION
    bot_user_agents: re.Pattern[str] | None = re.compile(DEFAULT_BOT_USER_AGENTS, re.IGNORECASE)
    #: The shop's SQLAlchemy session (``db.session``) refkit writes in, or ``None``.
    session: Any = None
    timeout: float | None = 2.0
    channel_param: str = "ref_channel"
    share_text: str = DEFAULT_SHARE_TEXT
    share_subject: str = DEFAULT_SHARE_SUBJECT

    def program_options(self) -> dict[str, Any]:
        """The keyword arguments of the app's :class:`refkit.ReferralProgram`."""
        return {
            "secret_key": self.secret_key,
            "store": self.store,
            "rules": self.rules,
            "clock": self.clock,
            "query_param": self.query_param,
            "campaign_param": self.campaign_param,
            "channel_param": self.channel_param,
            "share_text": self.share_text,
            "share_subject": self.share_subject,
            "fast_purchase": self.fast_purchase,
            "claim_ttl": self.claim_ttl,
            "signal_retention": self.signal_retention,
            "timeout": self.timeout,
        }


def check_options(options: dict[str, Any]) -> None:
    """Refuse a keyword option ``RefKit(...)`` does not know (a typo would be ignored).

    :raises ConfigurationError: naming the unknown options and the valid ones.
    """
    known = {**OPTIONS, **EXTENSION_OPTIONS}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigurationError(
            f"RefKit() got unknown option(s) {', '.join(unknown)}; the options are "
            f"{', '.join(known)} (each also a config key: {', '.join(known.values())})"
        )


def _option(options: dict[str, Any], config: Any, name: str) -> Any:
    return options[name] if name in options else config[{**OPTIONS, **EXTENSION_OPTIONS}[name]]


def _duration(value: Any, key: str) -> timedelta | None:
    if isinstance(value, int) and not isinstance(value, bool):
        value = timedelta(seconds=value)
    try:
        return to_optional_duration(value, key)
    except ValidationError as error:
        raise ConfigurationError(f"{error} (or a number of seconds)") from None


def _claim_ttl(value: Any) -> timedelta:
    ttl = _duration(value, "REFKIT_CLAIM_TTL")
    if ttl is None or ttl <= timedelta(0):
        raise ConfigurationError(
            f"REFKIT_CLAIM_TTL must be a positive timedelta or number of seconds, not {value!r}"
        )
    return ttl


def _secret(config: Any, options: dict[str, Any]) -> Any:
    """The secret key(s), checked here so the error names where they came from."""
    if "secret_key" in options:
        secret, source = options["secret_key"], "RefKit(secret_key=...)"
    elif config["REFKIT_SECRET_KEY"]:
        secret, source = config["REFKIT_SECRET_KEY"], "REFKIT_SECRET_KEY"
    else:
        secret = config.get("SECRET_KEY")
        source = "SECRET_KEY (used because REFKIT_SECRET_KEY is not set)"
    if not secret:
        raise ConfigurationError(
            f"refkit needs a secret key of at least {MIN_KEY_LENGTH} random characters and "
            f"neither REFKIT_SECRET_KEY nor SECRET_KEY is set: {_KEY_HELP}"
        )
    keys = list(secret) if isinstance(secret, list | tuple) else [secret]
    for position, key in enumerate(keys):
        if isinstance(key, str | bytes) and len(key) < MIN_KEY_LENGTH:
            where = source if len(keys) == 1 else f"key {position} of {source}"
            raise ConfigurationError(
                f"{where} has {len(key)} characters; refkit signs referral codes with it and "
                f"needs at least {MIN_KEY_LENGTH} random characters: {_KEY_HELP}"
            )
    return secret


def _bots(value: Any) -> re.Pattern[str] | None:
    if value is None:
        value = DEFAULT_BOT_USER_AGENTS
    if value == "":
        return None  # the filter is off: every User-Agent is a visitor
    if isinstance(value, re.Pattern):
        return value
    if not isinstance(value, str):
        raise ConfigurationError("REFKIT_BOT_USER_AGENTS must be a regular expression (a str)")
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as error:
        raise ConfigurationError(
            f"REFKIT_BOT_USER_AGENTS is not a valid pattern: {error}"
        ) from None


def _clock(value: Any) -> Clock:
    if value is None:
        return system_clock
    if not callable(value):
        raise ConfigurationError("REFKIT_CLOCK must be a callable returning an aware datetime")
    clock: Callable[[], datetime] = value
    return clock


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
    over the config keys (:data:`OPTIONS`).

    :raises ConfigurationError: an unknown option, no usable secret key, or a bad value.
    """
    check_options(options)
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    config = app.config
    secret = _secret(config, options)
    rules = _option(options, config, "rules")
    if rules is not None and not isinstance(rules, RewardRules | Experiment):
        raise ConfigurationError(
            "REFKIT_RULES must be a refkit.RewardRules, a refkit.Experiment or None"
        )
    store = options.get("store") or config["REFKIT_DATABASE_URL"]
    if store is None:
        os.makedirs(app.instance_path, exist_ok=True)
        store = f"sqlite:///{os.path.join(app.instance_path, 'refkit.db')}"
    max_age = config["REFKIT_COOKIE_MAX_AGE"]
    if max_age is None:
        max_age = _window(rules) or DEFAULT_COOKIE_MAX_AGE
    prefix = "/" + str(config["REFKIT_URL_PREFIX"]).strip("/")
    landing = "/" + str(config["REFKIT_LANDING_PATH"]).strip("/")
    redirect_to = str(config["REFKIT_LANDING_REDIRECT"])
    if not redirect_to.startswith("/") or redirect_to.startswith("//"):
        raise ConfigurationError("REFKIT_LANDING_REDIRECT must be a local path such as '/'")
    names = {
        "REFKIT_QUERY_PARAM": _option(options, config, "query_param"),
        "REFKIT_CAMPAIGN_PARAM": _option(options, config, "campaign_param"),
        "REFKIT_CHANNEL_PARAM": _option(options, config, "channel_param"),
        "REFKIT_COOKIE_NAME": config["REFKIT_COOKIE_NAME"],
    }
    for key, name in names.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"{key} must be a non-empty str")
    raise_errors = config["REFKIT_RAISE_ERRORS"]
    if raise_errors is not None and not isinstance(raise_errors, bool):
        raise ConfigurationError("REFKIT_RAISE_ERRORS must be True, False or None")
    retention = _duration(_option(options, config, "signal_retention"), "REFKIT_SIGNAL_RETENTION")
    if retention is None:
        raise ConfigurationError("REFKIT_SIGNAL_RETENTION must be a timedelta")
    return Settings(
        secret_key=secret,
        store=store,
        rules=rules,
        query_param=names["REFKIT_QUERY_PARAM"],
        campaign_param=names["REFKIT_CAMPAIGN_PARAM"],
        cookie_name=names["REFKIT_COOKIE_NAME"],
        cookie_max_age=_seconds(max_age, "REFKIT_COOKIE_MAX_AGE"),
        url_prefix=prefix,
        landing_path=landing,
        landing_redirect=redirect_to,
        capture_all_pages=bool(config["REFKIT_CAPTURE_ALL_PAGES"]),
        raise_errors=raise_errors,
        flag_same_device=bool(config["REFKIT_FLAG_SAME_DEVICE"]),
        clock=_clock(_option(options, config, "clock")),
        fast_purchase=_duration(_option(options, config, "fast_purchase"), "REFKIT_FAST_PURCHASE"),
        signal_retention=retention,
        claim_ttl=_claim_ttl(_option(options, config, "claim_ttl")),
        bot_user_agents=_bots(config["REFKIT_BOT_USER_AGENTS"]),
        session=_session(_option(options, config, "session")),
        timeout=_timeout(_option(options, config, "timeout")),
        channel_param=names["REFKIT_CHANNEL_PARAM"],
        share_text=_text(_option(options, config, "share_text"), "REFKIT_SHARE_TEXT"),
        share_subject=_text(_option(options, config, "share_subject"), "REFKIT_SHARE_SUBJECT"),
    )


def _text(value: Any, key: str) -> str:
    """``REFKIT_SHARE_TEXT`` or ``REFKIT_SHARE_SUBJECT``: 1 to 500 characters."""
    try:
        return to_share_text(value, key)
    except ValidationError as error:
        raise ConfigurationError(str(error)) from None


def _session(value: Any) -> Any:
    """The shop's session (a ``Session``, a ``scoped_session`` such as Flask-SQLAlchemy's
    ``db.session``, or a ``Connection``), or ``None``."""
    if value is None or callable(getattr(value, "connection", None)) or hasattr(value, "engine"):
        return value
    raise ConfigurationError(
        "REFKIT_SESSION (RefKit(session=...)) must be the shop's SQLAlchemy session, for "
        f"example Flask-SQLAlchemy's db.session, not {type(value).__name__}"
    )


def _timeout(value: Any) -> float | None:
    """``REFKIT_TIMEOUT``: seconds (a positive number), or ``None`` for no deadline."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigurationError(
            f"REFKIT_TIMEOUT must be a positive number of seconds or None, not {value!r}"
        )
    return float(value)


def _window(rules: RewardRules | Experiment | None) -> timedelta | None:
    """The attribution window of the rules; of an experiment, its variants' longest (none if
    one has no window), so no variant's referral outlives the cookie."""
    if isinstance(rules, Experiment):
        windows = [variant.attribution_window for variant in rules.variants.values()]
        return None if None in windows else max(w for w in windows if w is not None)
    return rules.attribution_window if rules is not None else None
