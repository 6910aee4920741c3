"""The reference pages cover the public API, and the offline intersphinx inventories work.

``make docs`` (run by CI) builds the pages with warnings as errors, so a documented name that
does not exist, or a cross-reference that does not resolve, fails there; these tests check
the converse, that nothing public is left out.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import refkit
import refkit_flask
from refkit_flask.config import DEFAULTS
from refkit_flask.signals import SIGNALS

DOCS = Path(__file__).resolve().parent.parent / "docs"
_DIRECTIVE = re.compile(
    r"^\.\. (?:py:)?(?:auto)?(module|currentmodule|class|exception|function|data|attribute)"
    r"::\s*(\S+)",
    re.MULTILINE,
)


def documented(page: str) -> set[str]:
    """The fully qualified names a page documents (``automodule``, ``autoclass``, ``data``...)."""
    names: set[str] = set()
    module = None
    for kind, name in _DIRECTIVE.findall((DOCS / page).read_text()):
        if kind in ("module", "currentmodule"):
            module = None if name == "None" else name
            if kind == "module":
                names.add(name)
        elif "." in name or module is None:
            names.add(name)
        else:
            names.add(f"{module}.{name}")
    return names


@pytest.mark.parametrize("package", [refkit, refkit_flask], ids=lambda p: p.__name__)
def test_every_public_name_is_in_the_api_reference(package: object) -> None:
    api = documented("api.rst")
    missing = [
        name
        for name in package.__all__  # type: ignore[attr-defined]
        if f"{package.__name__}.{name}" not in api  # type: ignore[attr-defined]
        and f"{package.__name__}.{name}" not in {n.rsplit(".", 1)[0] for n in api}  # type: ignore[attr-defined]
    ]
    assert missing == []


def test_every_method_of_the_program_is_in_the_api_reference() -> None:
    """``ReferralProgram``'s calls come from mixins (refkit/calls/, refkit/discounts.py), which
    autodoc's ``members`` leaves out: each is listed with ``automethod``, and the program's
    own members are documented by ``autoclass``."""
    text = (DOCS / "api.rst").read_text()
    listed = set(re.findall(r"^   \.\. automethod:: (\w+)$", text, re.MULTILINE))
    own = set(vars(refkit.ReferralProgram))
    public = {name for name in dir(refkit.ReferralProgram) if not name.startswith("_")}
    assert sorted(public - listed - own) == []
    assert sorted(listed - public) == []
    assert ".. autoclass:: ReferralProgram\n" in text


def test_every_signal_is_in_the_api_reference() -> None:
    api = documented("api.rst")
    names = [n for n in refkit_flask.signals.__all__ if n != "SIGNALS"]
    assert {f"refkit_flask.signals.{name}" for name in names} <= api
    assert len(SIGNALS) == len(refkit.EVENTS)


def test_every_config_key_has_a_data_entry() -> None:
    entries = documented("flask.rst")
    assert [key for key in DEFAULTS if key not in entries] == []
    assert [name for name in entries if name.startswith("REFKIT_") and name not in DEFAULTS] == []


def test_config_defaults_in_the_docs_match_the_code() -> None:
    text = (DOCS / "flask.rst").read_text()
    for key, value in DEFAULTS.items():
        shown = re.search(rf"^\.\. data:: {key}\n   :value: (.+)$", text, re.MULTILINE)
        assert shown is not None, key
        expected = f'"{value}"' if isinstance(value, str) else repr(value)
        assert shown.group(1) == expected, key


def test_every_event_is_in_the_events_table() -> None:
    text = (DOCS / "api.rst").read_text()
    assert [event for event in refkit.EVENTS if f"``{event}``" not in text] == []


# -- the offline intersphinx inventories (docs/inventories.py) -----------------------------


Inventory = dict[str, dict[str, str]]  # role -> name -> URL


@pytest.fixture(scope="module")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Inventory]]:
    """docs/inventories.py's files, read back by Sphinx's own inventory reader."""
    reader = pytest.importorskip("sphinx.util.inventory", reason="the docs extra has Sphinx")
    sys.path.insert(0, str(DOCS))
    try:
        import inventories as module

        mapping = module.write_inventories(tmp_path_factory.mktemp("inventories"))
        loaded = {}
        for key, (url, path) in mapping.items():
            inventory = reader.InventoryFile.loads(Path(path).read_bytes(), uri=url)
            loaded[key] = {
                role: {name: item.uri for name, item in items.items()}
                for role, items in inventory.data.items()
            }
        yield loaded
    finally:
        sys.path.remove(str(DOCS))
        sys.modules.pop("inventories", None)


@pytest.mark.parametrize(
    ("project", "role", "name", "url"),
    [
        ("python", "py:class", "decimal.Decimal", "library/decimal.html#decimal.Decimal"),
        ("python", "py:class", "str", "library/stdtypes.html#str"),
        ("python", "py:exception", "KeyError", "library/exceptions.html#KeyError"),
        ("python", "py:data", "None", "library/constants.html#None"),
        ("python", "py:module", "timeit", "library/timeit.html#module-timeit"),
        ("flask", "py:class", "flask.Flask", "api/#flask.Flask"),
        ("flask", "py:class", "flask.app.Flask", "api/#flask.Flask"),
        ("flask", "py:function", "flask.jsonify", "api/#flask.json.jsonify"),
        ("flask", "py:data", "flask.g", "api/#flask.g"),
        ("itsdangerous", "py:class", "itsdangerous.Signer", "signer/#itsdangerous.signer.Signer"),
        (
            "itsdangerous",
            "py:exception",
            "itsdangerous.exc.BadSignature",
            "exceptions/#itsdangerous.exc.BadSignature",
        ),
        (
            "sqlalchemy",
            "py:class",
            "sqlalchemy.engine.base.Engine",
            "core/connections.html#sqlalchemy.engine.Engine",
        ),
        (
            "sqlalchemy",
            "py:class",
            "sqlalchemy.Engine",
            "core/connections.html#sqlalchemy.engine.Engine",
        ),
        ("werkzeug", "py:class", "werkzeug.test.TestResponse", "test/#werkzeug.test.TestResponse"),
        ("blinker", "py:class", "blinker.base.NamedSignal", "#blinker.NamedSignal"),
    ],
)
def test_inventories_point_at_the_public_docs(
    inventories: dict[str, Inventory], project: str, role: str, name: str, url: str
) -> None:
    uri = inventories[project][role][name]
    base = {
        "python": f"https://docs.python.org/{sys.version_info[0]}.{sys.version_info[1]}/",
        "flask": "https://flask.palletsprojects.com/en/stable/",
        "itsdangerous": "https://itsdangerous.palletsprojects.com/en/stable/",
        "werkzeug": "https://werkzeug.palletsprojects.com/en/stable/",
        "blinker": "https://blinker.readthedocs.io/en/stable/",
    }.get(project)
    assert uri.endswith(url)
    if base is not None:
        assert uri == base + url


def test_inventories_list_no_private_names(inventories: dict[str, Inventory]) -> None:
    for inventory in inventories.values():
        for names in inventory.values():
            assert [name for name in names if name.split(".")[-1].startswith("_")] == []
