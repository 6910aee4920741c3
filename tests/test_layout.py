"""The test suite's own layout: tests share fixtures through ``conftest.py`` and helpers through
``tests/support/``; a test module never imports another test module (nor ``conftest.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """The modules ``path`` imports, as absolute names under ``tests`` where they are relative."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            package = "tests" if node.level else ""
            base = ".".join(part for part in (package, node.module or "") if part)
            names.add(base)
            # ``from . import test_x`` and ``from tests import conftest`` name the module too
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and len(parts) == 2 and parts[1].startswith(("test_", "conftest"))


def importers_of_test_modules(root: Path) -> dict[str, list[str]]:
    """``{test module: [test modules or conftest it imports]}`` for every ``test_*.py`` in root
    and every module under ``root/support`` (which may not import tests either)."""
    found: dict[str, list[str]] = {}
    for path in sorted([*root.glob("test_*.py"), *root.glob("support/**/*.py")]):
        imported = sorted(name for name in _imported_modules(path) if _is_test_module(name))
        if imported:
            found[str(path.relative_to(root))] = imported
    return found


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    assert importers_of_test_modules(TESTS) == {}, (
        "move what they share to tests/support/ (helpers) or tests/conftest.py (fixtures)"
    )


def test_the_check_sees_each_way_of_importing_a_test_module(tmp_path: Path) -> None:
    spellings = {
        "test_a.py": "from .test_other import helper\n",
        "test_b.py": "from tests.test_other import helper\n",
        "test_c.py": "import tests.test_other\n",
        "test_d.py": "from . import test_other\n",
        "test_e.py": "from .conftest import SECRET\n",
        "test_f.py": "from tests import conftest\n",
        "test_ok.py": "from .support.settings import SECRET\nimport pytest\n",
    }
    for name, source in spellings.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    assert sorted(importers_of_test_modules(tmp_path)) == [
        "test_a.py",
        "test_b.py",
        "test_c.py",
        "test_d.py",
        "test_e.py",
        "test_f.py",
    ]
