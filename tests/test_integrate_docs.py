"""docs/integrate.rst: the walk-through for an existing Flask-Login + Flask-SQLAlchemy shop.

The shop is tests/flask_login_shop.py (the page shows its parts); the page's tests,
docs/examples/test_integrate.py, run against it here, as the shop's own ``shop`` module.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("flask_login", reason="the docs extra installs Flask-Login")
pytest.importorskip("flask_sqlalchemy", reason="the docs extra installs Flask-SQLAlchemy")

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "integrate.rst"
SHOP = ROOT / "tests" / "flask_login_shop.py"
EXAMPLE = ROOT / "docs" / "examples" / "test_integrate.py"


def test_the_pages_tests_pass_on_the_shop(tmp_path: Path) -> None:
    """The page's tests, run by pytest as the shop would run them: beside the shop's module."""
    shutil.copy(SHOP, tmp_path / "shop.py")
    shutil.copy(EXAMPLE, tmp_path / "test_referrals.py")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_every_refkit_line_of_the_shop_is_on_the_page() -> None:
    """Each ``# refkit:`` line of the shop is shown: by a ``:pyobject:`` include of its
    function or class, or by the include of the module's top."""
    text = PAGE.read_text()
    shown = set(re.findall(r":pyobject: (\w+)", text))
    assert {"create_app", "signup", "checkout", "is_admin"} <= shown
    assert ".. literalinclude:: ../tests/flask_login_shop.py" in text
    assert ":start-at: PAGE =" in text


def test_the_page_is_in_the_toctree() -> None:
    index = (ROOT / "docs" / "index.rst").read_text()
    assert re.search(r"^   integrate$", index, re.MULTILINE)


def test_the_page_says_to_call_conversion_last_and_redirect() -> None:
    flask_page = (ROOT / "docs" / "flask.rst").read_text()
    assert "``conversion()`` **last**" in flask_page
    assert "A\n   redirect after a successful order" in flask_page
    assert "conversion()" in PAGE.read_text()
