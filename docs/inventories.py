"""Intersphinx inventories written from the installed packages, so the docs build offline.

Intersphinx links a name such as :class:`decimal.Decimal` or :class:`flask.Flask` to another
project's documentation by looking it up in that project's ``objects.inv``, a small index
(name, kind, URL) that Sphinx normally downloads from the project's site. refkit's builds, CI
included, have no network, and ``sphinx -W`` turns a failed download into an error; we found
no package on PyPI that ships these inventories. So ``conf.py`` calls
:func:`write_inventories` first: it imports the installed Python, Flask, Werkzeug, Blinker,
itsdangerous, SQLAlchemy and Alembic, lists the public classes, functions, data and members of
the modules that refkit's docs refer to, and writes one ``objects.inv`` per project, each name
pointing at its page on the project's real, public documentation site (the URLs the
downloaded inventories give). Only the index is made here; the links in the built HTML are
the ordinary ones.

Each object is listed under its documented name (``flask.Flask``) and under the name of the
module that defines it (``flask.app.Flask``), which is how autodoc writes type hints. A name
that no installed package has does not resolve, and the docs' nitpicky mode turns that into a
build error, so a typo or a removed API cannot slip through.
"""

from __future__ import annotations

import builtins
import importlib
import inspect
import sys
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

__all__ = ["PROJECTS", "Project", "entries", "render", "write_inventories"]

PALLETS = "https://{}.palletsprojects.com/en/stable/"


@dataclass(frozen=True)
class Project:
    """One documented project: its docs' base URL and where its names are documented.

    :param pages: module -> the page documenting it (relative to ``url``), for projects that
        document a module per page: every public name of the module is listed. The first
        module to list an object names it; other modules' names for it become aliases.
    :param objects: fully qualified name -> page, for projects whose pages do not follow
        their modules (SQLAlchemy): only these objects and their members are listed.
    :param shortcuts: packages whose re-exports (``sqlalchemy.Engine`` for
        ``sqlalchemy.engine.Engine``) are listed as aliases of what they re-export.
    """

    name: str
    url: str
    version: str
    pages: dict[str, str] = field(default_factory=dict)
    objects: dict[str, str] = field(default_factory=dict)
    shortcuts: tuple[str, ...] = ()


def _python() -> Project:
    modules = [
        *("abc", "argparse", "collections", "collections.abc", "contextlib", "csv"),
        *("dataclasses", "datetime", "decimal", "enum", "fractions", "functools", "hashlib"),
        *("hmac", "io", "json", "logging", "os", "pathlib", "re", "secrets", "sqlite3"),
        *("statistics", "tempfile"),
        *("threading", "timeit", "types", "typing", "urllib.parse", "uuid", "zlib"),
    ]
    major, minor = sys.version_info[:2]
    return Project(
        "Python",
        f"https://docs.python.org/{major}.{minor}/",
        f"{major}.{minor}",
        pages={module: f"library/{module}.html" for module in modules},
    )


def _sqlalchemy() -> Project:
    pages = {
        "core/connections.html": "sqlalchemy.engine.Engine sqlalchemy.engine.Connection "
        "sqlalchemy.engine.Result sqlalchemy.engine.Row",
        "core/engines.html": "sqlalchemy.create_engine sqlalchemy.engine.URL "
        "sqlalchemy.engine.make_url",
        "core/pooling.html": "sqlalchemy.pool.StaticPool sqlalchemy.pool.NullPool "
        "sqlalchemy.pool.QueuePool",
        "core/metadata.html": "sqlalchemy.schema.MetaData sqlalchemy.schema.Table "
        "sqlalchemy.schema.Column",
        "core/sqlelement.html": "sqlalchemy.sql.expression.text",
        "core/event.html": "sqlalchemy.event.listens_for",
        "core/exceptions.html": "sqlalchemy.exc.SQLAlchemyError sqlalchemy.exc.DBAPIError "
        "sqlalchemy.exc.IntegrityError sqlalchemy.exc.OperationalError",
        "core/custom_types.html": "sqlalchemy.types.TypeDecorator",
        "orm/session_api.html": "sqlalchemy.orm.session.Session "
        "sqlalchemy.orm.session.SessionTransaction",
        "orm/contextual.html": "sqlalchemy.orm.scoping.scoped_session",
    }
    release = version("sqlalchemy").split(".")
    return Project(
        "SQLAlchemy",
        f"https://docs.sqlalchemy.org/en/{release[0]}{release[1]}/",
        ".".join(release[:2]),
        objects={name: page for page, names in pages.items() for name in names.split()},
        shortcuts=("sqlalchemy", "sqlalchemy.orm"),
    )


PROJECTS: dict[str, Project] = {
    "python": _python(),
    # Flask documents its whole API on one page; flask.json first, so that flask.jsonify
    # becomes an alias of flask.json.jsonify, as Flask documents it.
    "flask": Project(
        "Flask",
        PALLETS.format("flask"),
        version("flask"),
        pages={m: "api/" for m in ("flask.json", "flask.cli", "flask.testing", "flask")},
        objects={f"flask.{name}": "api/" for name in ("current_app", "g", "request", "session")},
    ),
    "werkzeug": Project(
        "Werkzeug",
        PALLETS.format("werkzeug"),
        version("werkzeug"),
        pages={
            "werkzeug.test": "test/",
            "werkzeug.wrappers": "wrappers/",
            "werkzeug.exceptions": "exceptions/",
            "werkzeug.datastructures": "datastructures/",
        },
    ),
    "itsdangerous": Project(
        "itsdangerous",
        PALLETS.format("itsdangerous"),
        version("itsdangerous"),
        pages={
            "itsdangerous.exc": "exceptions/",
            "itsdangerous.signer": "signer/",
            "itsdangerous.timed": "timed/",
            "itsdangerous.serializer": "serializer/",
            "itsdangerous.url_safe": "url_safe/",
            "itsdangerous.encoding": "encoding/",
        },
        shortcuts=("itsdangerous",),
    ),
    "blinker": Project(
        "Blinker", "https://blinker.readthedocs.io/en/stable/", version("blinker"), {"blinker": ""}
    ),
    "sqlalchemy": _sqlalchemy(),
    "alembic": Project(
        "Alembic",
        "https://alembic.sqlalchemy.org/en/latest/",
        version("alembic"),
        objects={
            "alembic.config.Config": "api/config.html",
            "alembic.command.upgrade": "api/commands.html",
            "alembic.runtime.migration.MigrationContext": "api/runtime.html",
        },
    ),
}

#: Built-in classes documented in "Built-in Types" (the others in "Built-in Functions").
_STDTYPES = {"str", "bytes", "bytearray", "dict", "list", "tuple", "set", "frozenset", "range"}
_CONSTANTS = ("None", "True", "False", "NotImplemented", "Ellipsis")

#: (name, role, uri): one line of an inventory.
Entry = tuple[str, str, str]


def _role(obj: Any) -> str:
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def _public(module: Any) -> Iterator[tuple[str, Any]]:
    """The module's public names: its ``__all__``; without one, the classes and functions
    it defines (a package: those of its submodules too), not what it merely imports."""
    names = getattr(module, "__all__", None)
    prefix = module.__name__ + "." if hasattr(module, "__path__") else None
    for name in names if names is not None else list(vars(module)):
        value = getattr(module, name, None)
        if name.startswith("_") or value is None or inspect.ismodule(value):
            continue
        if names is None:
            if not (inspect.isclass(value) or inspect.isroutine(value)):
                continue
            home = getattr(value, "__module__", None) or ""
            if home != module.__name__ and not (prefix and home.startswith(prefix)):
                continue
        yield name, value


def _members(cls: type) -> Iterator[tuple[str, str]]:
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, classmethod):
            yield name, "classmethod"
        elif isinstance(value, staticmethod):
            yield name, "staticmethod"
        elif isinstance(value, property):
            yield name, "property"
        elif inspect.isroutine(value):
            yield name, "method"
        else:
            yield name, "attribute"


def _object(obj: Any, names: Iterable[str], anchor: str, page: str) -> Iterator[Entry]:
    """``obj``, documented as ``anchor`` on ``page``, listed as each of ``names``, with its
    members. Classes and functions are listed under their defining module's name too (how
    autodoc writes type hints)."""
    role = _role(obj)
    names = list(names)
    if role != "data":
        home = f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', '')}"
        private = any(part.startswith("_") for part in home.split("."))  # _thread._local
        if "<" not in home and not private and not home.startswith("builtins."):
            names.append(home)
    # Python documents int, float... in "Built-in Functions", their methods in "Built-in Types".
    member_page = "library/stdtypes.html" if page == "library/functions.html" else page
    for name in dict.fromkeys(names):
        yield name, role, f"{page}#{anchor}"
        if inspect.isclass(obj):
            for member, kind in _members(obj):
                yield f"{name}.{member}", kind, f"{member_page}#{anchor}.{member}"


def _builtins() -> Iterator[Entry]:
    for name, value in vars(builtins).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isroutine(value)):
            continue
        if inspect.isclass(value) and issubclass(value, BaseException):
            page = "library/exceptions.html"
        elif name in _STDTYPES:
            page = "library/stdtypes.html"
        else:
            page = "library/functions.html"
        yield from _object(value, [name], name, page)
    for name in _CONSTANTS:
        yield name, "data", f"library/constants.html#{name}"


def entries(project: Project) -> list[Entry]:
    """Every name the inventory of ``project`` lists, sorted, without duplicates."""
    found: dict[tuple[str, str], str] = {}
    documented: dict[int, tuple[str, str]] = {}  # id of a class or function -> anchor, page

    def add(obj: Any, name: str, anchor: str, page: str) -> None:
        if inspect.isclass(obj) or inspect.isroutine(obj):
            anchor, page = documented.setdefault(id(obj), (anchor, page))
        for item, role, uri in _object(obj, [name], anchor, page):
            found.setdefault((item, role), uri)

    if project.name == "Python":
        for item, role, uri in _builtins():
            found.setdefault((item, role), uri)
    for module_name, page in project.pages.items():
        found[(module_name, "module")] = f"{page}#module-{module_name}"
        for name, value in _public(importlib.import_module(module_name)):
            add(value, f"{module_name}.{name}", f"{module_name}.{name}", page)
    for qualified, page in project.objects.items():
        module_name, _, name = qualified.rpartition(".")
        add(getattr(importlib.import_module(module_name), name), qualified, qualified, page)
    for package in project.shortcuts:
        for name, value in _public(importlib.import_module(package)):
            if id(value) in documented:
                anchor, page = documented[id(value)]
                add(value, f"{package}.{name}", anchor, page)
    return sorted((name, role, uri) for (name, role), uri in found.items())


def render(project: Project, items: Iterable[Entry]) -> bytes:
    """An ``objects.inv`` (format version 2) listing ``items``."""
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {project.name}\n"
        f"# Version: {project.version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    lines = []
    for name, role, uri in items:
        if uri.endswith("#" + name):
            uri = uri[: -len(name)] + "$"  # the format's shorthand for "the name itself"
        lines.append(f"{name} py:{role} 1 {uri} -\n")
    return header.encode() + zlib.compress("".join(lines).encode())


def write_inventories(directory: Path) -> dict[str, tuple[str, str]]:
    """Write every project's ``objects.inv`` into ``directory`` (unchanged files are left
    alone); return the ``intersphinx_mapping`` that uses them."""
    directory.mkdir(parents=True, exist_ok=True)
    mapping = {}
    for key, project in PROJECTS.items():
        path = directory / f"{key}.inv"
        content = render(project, entries(project))
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
        mapping[key] = (project.url, str(path))
    return mapping
