"""Every code example in the docs and the README runs, so the docs cannot drift from the code.

The Python examples are files under ``docs/examples/`` that the pages ``literalinclude``.
Most check themselves with ``assert`` and only need to run; the web apps (the Flask
Quickstart, Django, FastAPI) are driven here with their frameworks' test clients. Each
example runs in a copy of the examples folder in a temporary directory, so whatever it
writes (SQLite files, Flask's instance folder) lands there.
"""

from __future__ import annotations

import doctest
import importlib
import json
import pkgutil
import re
import runpy
import shutil
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import refkit
import refkit_flask
from refkit.cli import build_parser
from refkit_flask.cli import refkit_cli
from refkit_flask.openapi import build_spec

from .support.settings import SECRET
from .support.shop import BROWSER

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
#: Examples driven by a test of their own below; every other example checks itself.
DRIVEN = {
    "shop.py",
    "test_shop.py",
    "test_integrate.py",  # tests/test_integrate_docs.py
    "django_shop.py",
    "fastapi_shop.py",
    "storage_postgres.py",
    "rate_limit.py",
}
SELF_CHECKING = sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in DRIVEN)
#: Languages a page may show without a test running the block: not Python.
UNTESTED_LANGUAGES = {"sh", "text", "json"}


@pytest.fixture
def examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of docs/examples as the working directory and first on sys.path."""
    folder = tmp_path / "examples"
    shutil.copytree(EXAMPLES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    before = set(sys.modules)
    yield folder
    for name in set(sys.modules) - before:  # the examples' modules: shop, django_shop...
        module = sys.modules[name]
        if Path(getattr(module, "__file__", None) or "/").parent == folder:
            del sys.modules[name]


def _import(name: str) -> ModuleType:
    return importlib.import_module(name)


# -- the self-checking examples ------------------------------------------------------------


@pytest.mark.parametrize("name", SELF_CHECKING)
def test_example_runs(name: str, examples: Path) -> None:
    runpy.run_path(str(examples / name), run_name="__main__")


def test_every_example_is_shown_in_a_page() -> None:
    pages = "\n".join(page.read_text() for page in DOCS.glob("*.rst"))
    shown = set(re.findall(r"\.\. literalinclude:: examples/(\S+\.py)", pages))
    assert shown == {p.name for p in EXAMPLES.glob("*.py")}


def test_every_example_is_run() -> None:
    assert set(SELF_CHECKING) | DRIVEN == {p.name for p in EXAMPLES.glob("*.py")}


# -- the Flask Quickstart ------------------------------------------------------------------


def test_quickstart_shop_refers_a_friend_end_to_end(examples: Path) -> None:
    shop = _import("shop")
    app = shop.create_app({"TESTING": True})
    assert app.extensions["refkit"].settings.store.startswith("sqlite:///")  # the default

    alice = app.test_client()
    alice.post("/signup", data={"email": "alice@example.com"})
    page = alice.get("/").get_data(as_text=True)
    match = re.search(r'href="http://localhost(/r/[A-Z0-9]{12})"', page)
    assert match is not None, page

    friend = app.test_client()
    friend.environ_base["HTTP_USER_AGENT"] = BROWSER
    landing = friend.get(match.group(1))
    assert landing.status_code == 302
    assert landing.location == "/"
    friend.post("/signup", data={"email": "Bob@example.com"})
    bought = friend.post("/checkout", data={"product": "beans"})
    assert bought.status_code == 302

    with app.app_context():
        program = shop.referrals.program
        assert program.referral_for("bob@example.com").referrer_id == "alice@example.com"
        stats = program.stats_for("alice@example.com")
        assert (stats.visits, stats.signups, stats.conversions) == (1, 1, 1)
        assert stats.rewards["pending"] == Decimal("2.40")
        assert program.stats_for("bob@example.com").rewards["pending"] == Decimal("5.00")
    assert "1 bought, 2.40 EUR pending" in alice.get("/").get_data(as_text=True)

    assert alice.get("/refkit/admin").status_code == 403
    owner = app.test_client()
    owner.post("/signup", data={"email": "owner@example.com"})
    assert owner.get("/refkit/admin").status_code == 200
    assert app.test_client().post("/checkout", data={"product": "mug"}).status_code == 401


def test_quickstart_shop_without_a_referral_earns_nothing(examples: Path) -> None:
    shop = _import("shop")
    app = shop.create_app({"TESTING": True, "REFKIT_DATABASE_URL": "memory://"})
    client = app.test_client()
    client.post("/signup", data={"email": "carol@example.com"})
    assert client.post("/checkout", data={"product": "mug"}).status_code == 302
    with app.app_context():
        assert shop.referrals.program.referral_for("carol@example.com") is None
        assert shop.referrals.program.rewards() == []


def test_quickstart_users_test_passes(examples: Path, tmp_path: Path) -> None:
    test_shop = _import("test_shop")
    test_shop.test_a_friend_who_buys_earns_both_rewards(tmp_path)


# -- Django and FastAPI --------------------------------------------------------------------


@pytest.mark.usefixtures("django_environment")
def test_django_example_binds_and_rewards(examples: Path) -> None:
    """docs/examples/django_shop.py, on the test suite's Django (its settings applied)."""
    django_shop = _import("django_shop")
    from django.test import Client, override_settings

    import refkit_django

    site = override_settings(
        ROOT_URLCONF="django_shop", MIDDLEWARE=django_shop.MIDDLEWARE, REFKIT=django_shop.REFKIT
    )
    with site:
        program = refkit_django.program()
        friend = Client(HTTP_USER_AGENT=BROWSER)
        assert friend.get("/", {"ref": program.code_for("alice")}).status_code == 200
        assert "5.00 EUR" in friend.get("/").content.decode()  # the offer banner
        signup = {"username": "bob-docs", "email": "bob@example.com"}
        assert friend.post("/signup", signup).status_code == 302
        bob = str(friend.session["_auth_user_id"])
        assert program.referral_for(bob).referrer_id == "alice"
        assert "Invite a friend" in friend.get("/").content.decode()
        paid = friend.post("/checkout", {"order_id": "o-docs-1", "total": "40.00"})
        assert paid.json() == {"paid": "35.00", "discount": "5.00"}
        conversion = program.conversion("o-docs-1")
        assert conversion is not None
        assert {r.role for r in conversion.rewards} == {"referrer", "referee"}
    refkit_django.reset()


def test_fastapi_example_binds_and_rewards(examples: Path) -> None:
    pytest.importorskip("fastapi", reason="the docs extra installs FastAPI")
    fastapi_shop = _import("fastapi_shop")
    from fastapi.testclient import TestClient

    program = fastapi_shop.program
    code = program.code_for("alice")
    with TestClient(fastapi_shop.app) as client:
        landing = client.get(f"/r/{code}", follow_redirects=False)
        assert landing.status_code == 302
        assert "refkit_referral" in landing.cookies
        client.post("/signup", json={"user_id": "bob"})
        order = {"order_id": "o-1", "user_id": "bob", "amount": "80.00"}
        assert client.post("/orders/paid", json=order).json() == {
            "reasons": ["referrer_rewarded", "referee_rewarded"],
            "rewards": 2,
        }
        assert client.post("/orders/paid", json=order).json()["rewards"] == 2  # a replay
        conflict = client.post("/orders/paid", json={**order, "amount": "81.00"})
        assert conflict.status_code == 409
        assert client.get("/users/alice/referrals").json() == {
            "code": code,
            "signups": 1,
            "balance": "0",
        }
    with TestClient(fastapi_shop.app) as other:
        assert "refkit_referral" not in other.get("/r/XXXX", follow_redirects=False).cookies
    program.store.close()


# -- rate limiting -------------------------------------------------------------------------


def test_rate_limit_example_throttles_wrong_codes_per_client(examples: Path) -> None:
    pytest.importorskip("flask_limiter", reason="the docs extra installs Flask-Limiter")
    rate_limit = _import("rate_limit")
    app = rate_limit.create_app({"TESTING": True})
    allowed = int(rate_limit.GUESSES.split("/")[0])
    with app.app_context():
        code = rate_limit.referrals.program.code_for("alice")
    guesser = app.test_client()
    # The proxy appends the address it saw; ProxyFix(x_for=1) trusts only that last one.
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "192.0.2.1, 203.0.113.7"

    def check(client: Any, typed: str) -> Any:
        return client.post("/refkit/api/codes/check", json={"code": typed})

    for _ in range(allowed + 5):  # valid codes are not counted
        assert guesser.get(f"/r/{code}").status_code == 302
        assert check(guesser, code).get_json()["valid"] is True
    for attempt in range(allowed):  # wrong codes are, on both routes together
        if attempt % 2:
            assert guesser.get("/r/NOT-A-CODE").status_code == 302
        else:
            assert check(guesser, "NOT-A-CODE").status_code == 200
    assert guesser.get("/r/NOT-A-CODE").status_code == 429
    blocked = check(guesser, code)
    assert blocked.status_code == 429
    assert "error" in blocked.get_json()  # the API's JSON error shape

    # Another forged first hop does not help: the guesser is still 203.0.113.7.
    guesser.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9, 203.0.113.7"
    assert check(guesser, "NOT-A-CODE").status_code == 429
    neighbour = app.test_client()
    neighbour.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.9"
    assert neighbour.get("/r/NOT-A-CODE").status_code == 302
    assert check(neighbour, code).get_json()["valid"] is True


# -- storage -------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_example_runs(
    examples: Path, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFKIT_DATABASE_URL", postgres_database)
    monkeypatch.setenv("REFKIT_SECRET_KEY", SECRET)
    runpy.run_path(str(examples / "storage_postgres.py"), run_name="__main__")


# -- the README ----------------------------------------------------------------------------


def _readme_blocks(language: str) -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_readme_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = _readme_blocks("python")
    assert blocks, "the README shows a Python example"
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "__readme__"})  # noqa: S102
    assert "referrer_rewarded" in capsys.readouterr().out


def test_readme_example_is_short() -> None:
    [block] = _readme_blocks("python")
    assert len(block.strip().splitlines()) <= 15


# -- what else the pages show --------------------------------------------------------------


def _code_blocks(page: Path) -> Iterator[tuple[str, str]]:
    """(language, body) of each ``.. code-block::`` of a page."""
    lines = page.read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"\s*\.\. code-block:: (\S+)", line)
        if match is None:
            continue
        body = []
        for following in lines[index + 1 :]:
            if following.strip() and not following.startswith("   "):
                break
            body.append(following[3:])
        yield match.group(1), "\n".join(body).strip()


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.rst")), ids=lambda p: p.name)
def test_pages_show_python_only_from_tested_files(page: Path) -> None:
    text = page.read_text()
    assert ">>>" not in text, "a doctest in a page: make it an example file"
    for language, _ in _code_blocks(page):
        assert language in UNTESTED_LANGUAGES, f"a {language} block: make it an example file"


def _commands() -> Iterator[tuple[str, list[str]]]:
    """The ``refkit ...`` and ``flask ... refkit ...`` command lines the docs show."""
    blocks = _readme_blocks("sh")
    for page in DOCS.glob("*.rst"):
        blocks += [body for language, body in _code_blocks(page) if language == "sh"]
    for block in blocks:
        for line in block.splitlines():
            words = line.split("#")[0].split()
            if words[:1] == ["refkit"]:
                yield "refkit", words[1:]
            elif words[:1] == ["flask"] and "refkit" in words:
                yield "flask", words[words.index("refkit") + 1 :]


def test_commands_in_the_docs_exist() -> None:
    parser = build_parser()
    choices = next(a for a in parser._actions if a.dest == "command").choices
    seen = set()
    for program, words in _commands():
        seen.add(program)
        if program == "refkit":
            assert words[0] in choices, words
            parser.parse_args(words)  # exits (fails the test) on an unknown option
        else:
            assert words[0] in refkit_cli.commands, words
    assert seen == {"refkit", "flask"}


def test_json_api_example_has_the_answers_shape() -> None:
    [example] = [body for lang, body in _code_blocks(DOCS / "flask.rst") if lang == "json"]
    schemas = build_spec("/refkit/api")["components"]["schemas"]
    me = json.loads(example)
    assert set(me) == set(schemas["Me"]["required"])
    assert set(me["stats"]) == set(schemas["Stats"]["required"])
    assert set(me["stats"]["rewards"]) == set(schemas["Stats"]["properties"]["rewards"]["required"])


# -- the examples in docstrings (the API reference) ----------------------------------------


def _modules() -> Iterator[str]:
    for package in (refkit, refkit_flask):
        yield package.__name__
        for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not re.search(r"\.(migrations|demo|__main__)\b", info.name):
                yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples_run(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, report=False)
    assert result.failed == 0
