"""Sphinx configuration for refkit's documentation (``make docs``)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]  # refkit itself, and inventories.py

from docutils import nodes  # noqa: E402
from docutils.parsers.rst.directives.images import Image  # noqa: E402
from inventories import write_inventories  # noqa: E402

import refkit  # noqa: E402
import refkit_flask  # noqa: E402

PUBLIC = {"refkit": refkit, "refkit_flask": refkit_flask}

project = "refkit"
author = "refkit contributors"
copyright = "refkit contributors"
release = refkit.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
exclude_patterns = ["_build", "examples"]
# _static holds the dashboard's screenshot once it exists (git keeps no empty folder).
html_static_path = ["_static"] if (HERE / "_static").is_dir() else []
html_theme = "furo"
html_title = f"refkit {release}"

# Every cross-reference must resolve (with -W, an unresolved one fails the build).
nitpicky = True
nitpick_ignore = [
    # The type variable of RefKit's decorators (``def user_loader(callback: F) -> F``).
    ("py:class", "refkit_flask.extension.F"),
    # The result type of SqlStore.read(work) (``work: Callable[[Connection], T]) -> T``).
    ("py:class", "refkit.storage.sql.T"),
    ("py:class", "refkit.reports.T"),
    # SQLAlchemy documents it as sqlalchemy.sql.expression.ColumnElement only.
    ("py:class", "sqlalchemy.sql.elements.ColumnElement"),
    ("py:class", "refkit_flask.state.T"),
    ("py:class", "refkit.storage.base.T"),
    ("py:class", "refkit.joined.T"),
    # refkit_django's decorator type variable, and Django's classes (no Django inventory).
    ("py:class", "refkit_django.shop.F"),
    ("py:class", "django.http.request.HttpRequest"),
    ("py:class", "django.dispatch.dispatcher.Signal"),
    # A dataclass field's Mapping[str, str] annotation, split at its comma by autodoc.
    ("py:class", "collections.abc.Mapping[str"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"members": True}
python_use_unqualified_type_names = True

# Intersphinx without a network: the inventories are written from the installed packages
# (see inventories.py); the links point at the projects' public documentation.
intersphinx_mapping = write_inventories(HERE / "_build" / "inventories")


def _public_name(app, env, node, contnode):  # type: ignore[no-untyped-def]
    """Resolve ``refkit.clock.FrozenClock`` (autodoc writes type hints with the defining
    module) to ``refkit.FrozenClock``, its documented public name, when both name the same
    object; the same for members (``refkit.clock.FrozenClock.advance``)."""
    parts = str(node.get("reftarget", "")).split(".")
    if node.get("refdomain") != "py" or parts[0] not in PUBLIC or len(parts) < 3:
        return None
    for split in range(len(parts) - 1, 1, -1):
        module = sys.modules.get(".".join(parts[:split]))
        if module is None:
            continue
        name = parts[split]
        if getattr(module, name, None) is not getattr(PUBLIC[parts[0]], name, object()):
            return None
        public = ".".join([parts[0], *parts[split:]])
        domain = env.get_domain("py")
        return domain.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], public, node, contnode
        )
    return None


def _signature(app, what, name, obj, options, signature, annotation):  # type: ignore[no-untyped-def]
    """Defaults shown as ``<factory>`` (a dataclass ``default_factory``) or ``<function f>``
    are not Python, and make Sphinx misread the whole signature: show ``...`` and ``f``."""
    if signature:
        signature = signature.replace("= <factory>", "= ...")
        signature = re.sub(r"<function (\w+)(?: at 0x[0-9a-f]+)?>", r"\1", signature)
    return signature, annotation


class ImageIfPresent(Image):
    """``.. image-if-present:: path``: an image once its file exists, nothing before.

    The admin dashboard's screenshot (``_static/dashboard.png``) is made apart from the docs;
    a plain ``image`` directive (even inside ``only``) fails a ``-W`` build while it is
    missing, and a placeholder picture would show something that is not refkit's.
    """

    def run(self) -> list[nodes.Node]:
        env = self.state.document.settings.env
        _, path = env.relfn2path(self.arguments[0], env.docname)
        if not Path(path).is_file():
            return []
        return super().run()


def setup(app):  # type: ignore[no-untyped-def]
    app.add_directive("image-if-present", ImageIfPresent)
    app.connect("missing-reference", _public_name)
    app.connect("autodoc-process-signature", _signature)
