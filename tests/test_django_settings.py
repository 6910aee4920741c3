"""refkit_django's settings: the store (a URL, a Django database alias, an absolute default
file), the keys (``SECRET_KEY`` + ``SECRET_KEY_FALLBACKS``), and isolation under the test
runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import refkit
from tests.support.settings import SECRET

pytestmark = pytest.mark.usefixtures("django_environment")
OLD = "an-older-django-secret-key-0123456789abcdef"


@pytest.fixture
def settings_() -> Iterator[Any]:
    """Apply ``override_settings`` for the test; refkit's program is built afresh."""
    from django.test import override_settings

    import refkit_django

    applied: list[Any] = []

    def apply(**values: Any) -> None:
        override = override_settings(**values)
        override.enable()
        applied.append(override)

    yield apply
    for override in reversed(applied):
        override.disable()
    refkit_django.reset()


@pytest.fixture
def outside_tests() -> Iterator[None]:
    """As in production: Django's test environment torn down for the test."""
    from django.core import mail

    outbox = mail.outbox
    del mail.outbox
    try:
        yield
    finally:
        mail.outbox = outbox


def test_codes_signed_with_a_rotated_key_stay_valid(settings_: Any, tmp_path: Path) -> None:
    import refkit_django

    kept = {"TEST_STORE": f"sqlite:///{tmp_path / 'refkit.db'}"}
    settings_(SECRET_KEY=OLD, REFKIT=kept)
    old_code = refkit_django.program().code_for("alice")
    settings_(SECRET_KEY=SECRET, SECRET_KEY_FALLBACKS=[OLD], REFKIT=kept)
    assert refkit_django.program().resolve(old_code) == "alice"


@pytest.mark.usefixtures("outside_tests")
def test_the_default_store_is_an_absolute_file_under_base_dir(
    settings_: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from refkit_django.conf import read_settings

    settings_(BASE_DIR=tmp_path / "site", REFKIT={})
    monkeypatch.chdir(tmp_path)
    assert read_settings().store == f"sqlite:///{(tmp_path / 'site' / 'refkit.db').resolve()}"
    settings_(BASE_DIR="relative/site", REFKIT={})
    assert read_settings().store == f"sqlite:///{(tmp_path / 'relative/site/refkit.db')}"


@pytest.mark.usefixtures("outside_tests")
def test_a_database_alias_lends_its_connection_settings(tmp_path: Path) -> None:
    from refkit_django.conf import database_url

    sqlite = {"ENGINE": "django.db.backends.sqlite3", "NAME": tmp_path / "shop.db"}
    assert database_url(sqlite, "memory://") == f"sqlite:///{tmp_path / 'shop.db'}"
    postgres = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shop",
        "USER": "shop",
        "PASSWORD": "p@ss word",
        "HOST": "db.internal",
        "PORT": "5433",
    }
    from sqlalchemy.engine import make_url

    url = make_url(database_url(postgres, "memory://"))
    assert (url.drivername, url.username, url.password) == (
        "postgresql+psycopg",
        "shop",
        "p@ss word",
    )
    assert (url.host, url.port, url.database) == ("db.internal", 5433, "shop")
    with pytest.raises(refkit.ConfigurationError, match="SQLite or PostgreSQL"):
        database_url({"ENGINE": "django.db.backends.mysql", "NAME": "shop"}, "memory://")


def test_the_database_alias_follows_djangos_test_database(settings_: Any, tmp_path: Path) -> None:
    from refkit_django.conf import read_settings

    test_store = f"sqlite:///{tmp_path / 'test.db'}"
    settings_(REFKIT={"DATABASE": "default", "TEST_STORE": test_store})
    assert read_settings().store == test_store  # the in-memory test database: the test store
    for bad in ({"DATABASE": "missing"}, {"DATABASE": "default", "STORE": "sqlite://"}):
        settings_(REFKIT=bad)
        with pytest.raises(refkit.ConfigurationError):
            read_settings()


def test_the_test_runner_gets_its_own_store(settings_: Any, tmp_path: Path) -> None:
    import refkit_django
    from refkit_django.conf import read_settings

    real = f"sqlite:///{tmp_path / 'production.db'}"
    settings_(REFKIT={"STORE": real})
    assert read_settings().store == "memory://"
    refkit_django.program().attribute("bob", refkit_django.program().code_for("alice"))
    assert not (tmp_path / "production.db").exists()
    settings_(REFKIT={"STORE": real, "TEST_STORE": f"sqlite:///{tmp_path / 'test.db'}"})
    assert read_settings().store == f"sqlite:///{tmp_path / 'test.db'}"


def test_unknown_keys_and_bad_values_are_refused(settings_: Any) -> None:
    from refkit_django.conf import read_settings

    for bad in ({"RULEZ": None}, {"RULES": "x"}, {"LANDING_REDIRECT": "https://x"}):
        settings_(REFKIT=bad)
        with pytest.raises(refkit.ConfigurationError):
            read_settings()
