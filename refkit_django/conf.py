"""``settings.REFKIT``: the site's referral program, built once from Django's settings.

============================  =====================================================================
key                           meaning (default)
============================  =====================================================================
``RULES``                     the :class:`refkit.RewardRules`, or an :class:`refkit.Experiment`
                              (an A/B test of offers); ``None``: track, reward nothing
``STORE``                     a store URL (``postgresql+psycopg://...``, ``sqlite:////abs/path``)
``DATABASE``                  or the alias of a Django database whose connection settings refkit
                              reuses (SQLite or PostgreSQL); refkit's tables live in it
``TEST_STORE``                the store under Django's test runner (``"memory://"``), see below
``SECRET_KEY``                the signing keys (``[SECRET_KEY, *SECRET_KEY_FALLBACKS]``)
``CLOCK``                     a callable returning an aware datetime (tests: a FrozenClock)
``QUERY_PARAM``               the query parameter carrying a code (``"ref"``)
``CAMPAIGN_PARAM``            the query parameter naming a campaign (``"campaign"``)
``CHANNEL_PARAM``             the query parameter naming the share channel (``"ref_channel"``)
``SHARE_TEXT``                the message before the link in share URLs (the program's default)
``SHARE_SUBJECT``             the subject of the email share URL (the program's default)
``DISPLAY_NAME``              how the dashboard names people: a callable ``(user_id) -> name or
                              None``, or its dotted path (``None``: user ids are shown)
``COOKIE_NAME``               the referral cookie (``"refkit_referral"``)
``COOKIE_MAX_AGE``            its life (the rules' attribution window, else 30 days)
``LANDING_REDIRECT``          where ``/r/<code>`` goes without a local ``?next=`` (``"/"``)
``FLAG_SAME_DEVICE``          flag a signup from the click's device and browser (``False``)
``BOT_USER_AGENTS``           a pattern of User-Agents that count no visit (``""``: none)
``RAISE_ERRORS``              ``True``/``False``; ``None``: the shop's mistakes raised under DEBUG
``FAST_PURCHASE``             the :class:`refkit.ReferralProgram` option ``fast_purchase``
``CLAIM_TTL``                 the program's ``claim_ttl``
``SIGNAL_RETENTION``          the program's ``signal_retention``
``TIMEOUT``                   the program's ``timeout`` (seconds)
============================  =====================================================================

Without ``STORE`` or ``DATABASE`` the store is the SQLite file ``refkit.db`` in ``BASE_DIR``
(an absolute path, so the web server and a cron job started elsewhere share it). The keys
default to ``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS``, so rotating Django's key the Django way
keeps every shared code and cookie valid.

Under Django's test runner (while ``django.test.utils.setup_test_environment`` is in effect),
the store is ``TEST_STORE`` instead of ``STORE`` or the default file, so tests never write into
the real store; with ``DATABASE`` it follows Django's test database (an in-memory SQLite test
database means the ``TEST_STORE``). The program is built on first use and built again when
``REFKIT`` (or the test database) changes: ``refkit_django.reset()`` forgets it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string
from sqlalchemy.engine import URL

from refkit import ConfigurationError, Experiment, ReferralProgram, RewardRules
from refkit.capture import DEFAULT_BOT_USER_AGENTS, DEFAULT_COOKIE_MAX_AGE, ReferralCookie
from refkit.clock import Clock, system_clock
from refkit.dashboard.failures import FailureLog

__all__ = [
    "KEYS",
    "Settings",
    "State",
    "database_url",
    "get_state",
    "in_test_environment",
    "program",
    "read_settings",
    "reset",
]

#: Every key ``settings.REFKIT`` may hold (any other is refused: a typo would be ignored).
KEYS = frozenset(
    {
        "RULES", "STORE", "DATABASE", "TEST_STORE", "SECRET_KEY", "CLOCK", "QUERY_PARAM",
        "CAMPAIGN_PARAM", "COOKIE_NAME", "COOKIE_MAX_AGE", "LANDING_REDIRECT",
        "FLAG_SAME_DEVICE", "BOT_USER_AGENTS", "RAISE_ERRORS", "FAST_PURCHASE", "CLAIM_TTL",
        "SIGNAL_RETENTION", "TIMEOUT", "CHANNEL_PARAM", "SHARE_TEXT", "SHARE_SUBJECT",
        "DISPLAY_NAME",
    }
)  # fmt: skip
_PROGRAM_OPTIONS = {
    "CHANNEL_PARAM": "channel_param",
    "SHARE_TEXT": "share_text",
    "SHARE_SUBJECT": "share_subject",
    "FAST_PURCHASE": "fast_purchase",
    "CLAIM_TTL": "claim_ttl",
    "SIGNAL_RETENTION": "signal_retention",
    "TIMEOUT": "timeout",
}


@dataclass(frozen=True, slots=True)
class Settings:
    """``settings.REFKIT`` read and checked."""

    secret_key: list[str | bytes]
    store: str
    rules: RewardRules | Experiment | None
    clock: Clock
    query_param: str
    campaign_param: str
    cookie_name: str
    cookie_max_age: timedelta
    landing_redirect: str
    flag_same_device: bool
    bot_user_agents: re.Pattern[str] | None
    raise_errors: bool | None
    program_options: Mapping[str, Any]
    display_name: Callable[[str], str | None] | None = None


@dataclass(eq=False)
class State:
    """The site's program, its settings, the referral cookie and the failure log."""

    settings: Settings
    program: ReferralProgram
    cookie: ReferralCookie
    failures: FailureLog


def in_test_environment() -> bool:
    """Whether Django's test environment is set up (the test runner, pytest-django): it
    gives ``django.core.mail`` its ``outbox`` until it is torn down."""
    from django.core import mail

    return hasattr(mail, "outbox")


def _database_url(alias: str, test_store: str) -> str:
    """A SQLAlchemy URL for the Django database ``alias`` (its connection's current
    settings, so the test database under the test runner)."""
    from django.db import connections

    if alias not in connections:
        raise ConfigurationError(
            f"REFKIT['DATABASE'] is {alias!r}, which is not in settings.DATABASES: name one "
            f"of {sorted(settings.DATABASES)} or set REFKIT['STORE'] to a URL"
        )
    return database_url(connections[alias].settings_dict, test_store, alias=alias)


def database_url(found: Mapping[str, Any], test_store: str, *, alias: str = "default") -> str:
    """A SQLAlchemy URL for a Django database's settings (``settings.DATABASES[alias]``).

    An in-memory SQLite database (Django's default test database) cannot be shared with
    refkit's own connections: it means ``test_store`` under the test runner, ``memory://``
    otherwise.

    :raises refkit.ConfigurationError: neither SQLite nor PostgreSQL.
    """
    engine, name = str(found.get("ENGINE", "")), str(found.get("NAME") or "")
    if engine.endswith("sqlite3"):
        if name in ("", ":memory:") or "mode=memory" in name:
            return test_store if in_test_environment() else "memory://"
        return f"sqlite:///{Path(name).resolve()}"
    if engine.endswith("postgresql"):
        options = found.get("OPTIONS") or {}
        query = {"sslmode": str(options["sslmode"])} if "sslmode" in options else {}
        url = URL.create(
            "postgresql+psycopg",
            username=found.get("USER") or None,
            password=found.get("PASSWORD") or None,
            host=found.get("HOST") or None,
            port=int(found["PORT"]) if found.get("PORT") else None,
            database=name or None,
            query=query,
        )
        return url.render_as_string(hide_password=False)
    raise ConfigurationError(
        f"REFKIT['DATABASE'] {alias!r} uses {engine}; refkit stores data in SQLite or "
        "PostgreSQL: name such a database or set REFKIT['STORE'] to a URL"
    )


def _store(config: Mapping[str, Any]) -> str:
    test_store = str(config.get("TEST_STORE", "memory://"))
    if "DATABASE" in config and "STORE" in config:
        raise ConfigurationError("REFKIT sets both DATABASE and STORE: keep one")
    if "DATABASE" in config:
        return _database_url(str(config["DATABASE"]), test_store)
    if in_test_environment():
        return test_store
    if "STORE" in config:
        store = config["STORE"]
        if not isinstance(store, str) or not store:
            raise ConfigurationError("REFKIT['STORE'] must be a store URL (a str)")
        return store
    base = getattr(settings, "BASE_DIR", None)
    if base is None:
        raise ConfigurationError(
            "refkit needs a store: set REFKIT['STORE'] to a URL, REFKIT['DATABASE'] to a "
            "database alias, or BASE_DIR (the default is BASE_DIR / 'refkit.db')"
        )
    return f"sqlite:///{(Path(base) / 'refkit.db').resolve()}"


def _keys(config: Mapping[str, Any]) -> list[str | bytes]:
    if config.get("SECRET_KEY") is not None:
        given = config["SECRET_KEY"]
        return list(given) if isinstance(given, list | tuple) else [given]
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _duration(value: Any, key: str) -> timedelta:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return timedelta(seconds=value)
    if isinstance(value, timedelta) and value > timedelta(0):
        return value
    raise ConfigurationError(f"REFKIT['{key}'] must be a positive timedelta or seconds")


def _bots(value: Any) -> re.Pattern[str] | None:
    if value is None:
        value = DEFAULT_BOT_USER_AGENTS
    if value == "":
        return None
    if isinstance(value, re.Pattern):
        return value
    try:
        return re.compile(str(value), re.IGNORECASE)
    except re.error as error:
        raise ConfigurationError(
            f"REFKIT['BOT_USER_AGENTS'] is not a valid pattern: {error}"
        ) from None


def read_settings() -> Settings:
    """Read ``settings.REFKIT``.

    :raises refkit.ConfigurationError: an unknown key, a bad value, no store.
    """
    config = getattr(settings, "REFKIT", None) or {}
    if not isinstance(config, Mapping):
        raise ConfigurationError("settings.REFKIT must be a dict")
    unknown = sorted(set(config) - KEYS)
    if unknown:
        raise ConfigurationError(
            f"settings.REFKIT has unknown keys {unknown}: the keys are {sorted(KEYS)}"
        )
    rules = config.get("RULES")
    if rules is not None and not isinstance(rules, RewardRules | Experiment):
        raise ConfigurationError(
            "REFKIT['RULES'] must be a refkit.RewardRules, a refkit.Experiment or None"
        )
    max_age = config.get("COOKIE_MAX_AGE")
    if max_age is None:
        max_age = _window(rules) or DEFAULT_COOKIE_MAX_AGE
    redirect_to = str(config.get("LANDING_REDIRECT", "/"))
    if not redirect_to.startswith("/") or redirect_to.startswith("//"):
        raise ConfigurationError("REFKIT['LANDING_REDIRECT'] must be a local path such as '/'")
    raise_errors = config.get("RAISE_ERRORS")
    if raise_errors is not None and not isinstance(raise_errors, bool):
        raise ConfigurationError("REFKIT['RAISE_ERRORS'] must be True, False or None")
    clock = config.get("CLOCK") or system_clock
    if not callable(clock):
        raise ConfigurationError("REFKIT['CLOCK'] must be a callable returning a datetime")
    options = {name: config[key] for key, name in _PROGRAM_OPTIONS.items() if key in config}
    return Settings(
        secret_key=_keys(config),
        store=_store(config),
        rules=rules,
        clock=clock,
        query_param=str(config.get("QUERY_PARAM", "ref")),
        campaign_param=str(config.get("CAMPAIGN_PARAM", "campaign")),
        cookie_name=str(config.get("COOKIE_NAME", "refkit_referral")),
        cookie_max_age=_duration(max_age, "COOKIE_MAX_AGE"),
        landing_redirect=redirect_to,
        flag_same_device=bool(config.get("FLAG_SAME_DEVICE", False)),
        bot_user_agents=_bots(config.get("BOT_USER_AGENTS")),
        raise_errors=raise_errors,
        program_options=options,
        display_name=_display_name(config.get("DISPLAY_NAME")),
    )


def _window(rules: RewardRules | Experiment | None) -> timedelta | None:
    """The attribution window of the rules; of an experiment, its variants' longest (none if
    one has no window), so no variant's referral outlives the cookie."""
    if isinstance(rules, Experiment):
        windows = [variant.attribution_window for variant in rules.variants.values()]
        return None if None in windows else max(w for w in windows if w is not None)
    return rules.attribution_window if rules is not None else None


def _display_name(value: Any) -> Callable[[str], str | None] | None:
    """``REFKIT["DISPLAY_NAME"]``: a callable, or the dotted path of one, or ``None``."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as error:
            raise ConfigurationError(
                f"REFKIT['DISPLAY_NAME'] names {value!r}, which cannot be imported: {error}"
            ) from None
    if not callable(value):
        raise ConfigurationError(
            "REFKIT['DISPLAY_NAME'] must be a callable (user_id) -> name or None, or its "
            "dotted path"
        )
    found: Callable[[str], str | None] = value
    return found


_lock = threading.Lock()
_state: State | None = None


def get_state() -> State:
    """The site's state, built on first use (and again when ``REFKIT`` or the store it
    names changed).

    :raises refkit.ConfigurationError: the settings are wrong (see :func:`read_settings`).
    """
    global _state
    found = _state
    if found is not None and found.settings.store == _store(_config()):
        return found
    with _lock:
        found = _state
        current = read_settings()
        if found is None or found.settings != current:
            program = ReferralProgram(
                secret_key=current.secret_key,
                store=current.store,
                rules=current.rules,
                clock=current.clock,
                query_param=current.query_param,
                campaign_param=current.campaign_param,
                **current.program_options,
            )
            from . import signals

            signals.connect(program)
            cookie = ReferralCookie(current.secret_key, current.cookie_max_age, program.clock)
            previous = found
            found = _state = State(current, program, cookie, FailureLog())
            if previous is not None:
                previous.program.store.close()
        return found


def _config() -> Mapping[str, Any]:
    config = getattr(settings, "REFKIT", None) or {}
    return config if isinstance(config, Mapping) else {}


def program() -> ReferralProgram:
    """The site's :class:`refkit.ReferralProgram` (built from ``settings.REFKIT``)."""
    return get_state().program


def reset(**_: Any) -> None:
    """Forget the site's program: the next call builds it again from the settings (a new
    ``memory://`` store is empty). Connected to Django's ``setting_changed`` for ``REFKIT``."""
    global _state
    with _lock:
        previous, _state = _state, None
    if previous is not None:
        previous.program.store.close()


def when_settings_change(setting: str, **_: Any) -> None:
    """``setting_changed`` receiver: ``override_settings(REFKIT=...)`` takes effect."""
    if setting in ("REFKIT", "SECRET_KEY", "SECRET_KEY_FALLBACKS", "DATABASES", "BASE_DIR"):
        reset()
