"""The shop fixtures of the Flask extension's tests (registered by ``conftest.py``).

A test module that defines a fixture of the same name (``app``, ``client``...) keeps its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

import refkit
from refkit_flask import RefKit

from .shop import MakeShop, add_shop_views, browser, code_of, new_app, program_of, state_of


@pytest.fixture
def opened_apps() -> Iterator[list[Flask]]:
    """Apps whose refkit store is closed after the test (``make_shop`` adds its own)."""
    apps: list[Flask] = []
    yield apps
    for app in apps:
        if "refkit" in app.extensions:
            program_of(app).store.close()


@pytest.fixture
def make_shop(tmp_path: Path, clock: refkit.FrozenClock, opened_apps: list[Flask]) -> MakeShop:
    """``make_shop(REFKIT_X=..., rules=..., store=...)``: a shop app with RefKit set up."""

    def make(name: str = "shop", **settings: Any) -> Flask:
        options = {key: settings.pop(key) for key in ("rules", "store") if key in settings}
        app = new_app(tmp_path, name, **settings)
        opened_apps.append(app)
        ext = RefKit(app, clock=clock, **options)
        add_shop_views(app, ext)
        return app

    return make


@pytest.fixture
def app(make_shop: MakeShop) -> Flask:
    return make_shop()


@pytest.fixture
def ext(app: Flask) -> RefKit:
    return state_of(app).extension


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return browser(app)


@pytest.fixture
def alice_code(app: Flask) -> str:
    """The code of "alice", the referrer in most tests."""
    return code_of(app, "alice")
