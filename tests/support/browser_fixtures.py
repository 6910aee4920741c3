"""The headless Chromium the browser tests drive (a pytest plugin registered by conftest).

Debian's Chromium through Playwright (whose own browser download does not work here). With
``CI=true`` a missing browser fails the run instead of skipping, since ``.ci/run`` installs it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
#: Without the background-networking flags Chromium keeps dialling out, and this machine's
#: closed network refuses it.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@contextmanager
def loopback(app: Any, name: str = "test-server", **options: Any) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (loopback only), on a free port, in a thread, until the
    block ends; its base URL. ``options`` go to werkzeug's ``make_server`` (a
    ``request_handler``, for example)."""
    served = make_server("127.0.0.1", 0, app, threaded=True, **options)
    thread = threading.Thread(target=served.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{served.server_port}"
    finally:
        served.shutdown()
        thread.join(timeout=10)
        served.server_close()


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the browser test must run; .ci/run installs it)")
    pytest.skip(f"{reason}; the browser test needs it (it runs in CI)")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``), shared by the session."""
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is missing: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
