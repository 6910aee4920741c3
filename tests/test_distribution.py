"""The distribution: its own name on the package index (``refkit`` there is another project),
named by every install line of the docs; an sdist and a wheel that build, pass ``twine check``,
and install into an empty virtualenv with the ``flask`` extra and serve the demo."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shlex
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

import refkit

ROOT = Path(__file__).resolve().parent.parent
DIST = "refkit-referrals"
#: ``pip install ...`` up to the end of the command (a closing backtick, parenthesis or comment).
PIP_INSTALL = re.compile(r"pip install ([^`)#\n]*)")


def install_lines() -> list[tuple[str, str]]:
    """Every ``pip install`` command in README.md and docs/, with the file it is in."""
    files = [ROOT / "README.md"] + [
        path
        for path in sorted((ROOT / "docs").rglob("*"))
        if path.suffix in {".rst", ".md", ".py", ".txt"} and "_build" not in path.parts
    ]
    found = []
    for path in files:
        for match in PIP_INSTALL.finditer(path.read_text(encoding="utf-8")):
            found.append((str(path.relative_to(ROOT)), match.group(1).strip()))
    return found


def test_the_project_is_named_refkit_referrals() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DIST
    assert importlib.metadata.version(DIST) == refkit.__version__


def test_every_pip_install_line_names_our_distribution() -> None:
    lines = install_lines()
    assert len(lines) >= 4  # README, quickstart, index, flask, storage...
    for where, arguments in lines:
        requirements = [a for a in shlex.split(arguments) if not a.startswith("-")]
        assert requirements, (where, arguments)
        names = {
            re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0] for requirement in requirements
        }
        assert names == {DIST}, (where, arguments)


def run(*command: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603 (our own commands)
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_the_sdist_and_wheel_build_pass_twine_check_and_install_with_flask(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    run(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", dist, ROOT)
    [sdist] = dist.glob("refkit_referrals-*.tar.gz")
    [wheel] = dist.glob("refkit_referrals-*-py3-none-any.whl")
    assert "PASSED" in run(sys.executable, "-m", "twine", "check", "--strict", sdist, wheel)
    names = zipfile.ZipFile(wheel).namelist()
    for packaged in (
        "refkit/py.typed",
        "refkit_flask/py.typed",
        "refkit/dashboard/templates/refkit/admin.html",
        "refkit/dashboard/static/admin.css",
        "refkit_flask/templates/refkit/invite.html",
        "refkit_django/py.typed",
        "refkit_django/templates/refkit_django/invite.html",
        "refkit_django/migrations/0001_initial.py",
        "refkit_flask/demo/templates/shop/base.html",
        "refkit_flask/demo/static/shop.css",
    ):
        assert packaged in names, packaged
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    )
    assert b"Name: refkit-referrals\n" in metadata
    assert b"Provides-Extra: flask\n" in metadata
    assert b"Provides-Extra: django\n" in metadata

    # An empty virtualenv, the wheel with its flask extra, and the demo answering its home page
    # (the wheel's templates and static files included).
    environment = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(environment)
    python = environment / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", f"{DIST}[flask] @ {wheel.as_uri()}")
    check = (
        "from refkit_flask.demo import create_app\n"
        "client = create_app().test_client()\n"
        "page = client.get('/')\n"
        "assert page.status_code == 200, page.status_code\n"
        "print(page.get_data(as_text=True)[:2000])\n"
    )
    env = {**os.environ, "DEMO_INSTANCE_PATH": str(tmp_path / "instance")}
    env.pop("PYTHONPATH", None)
    page = run(python, "-c", check, cwd=tmp_path, env=env)
    assert "<html" in page.lower()
    flask = environment / "bin" / "flask"
    assert flask.exists()


def make_recipe(target: str) -> tuple[list[str], list[str]]:
    """A Makefile target's prerequisites and recipe lines."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    prerequisites = lines[index].split(":", 1)[1].split()
    recipe = []
    for line in lines[index + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return prerequisites, recipe


def test_make_demo_installs_only_the_flask_extra_and_make_test_everything() -> None:
    [demo_stamp] = make_recipe("demo")[0]
    assert demo_stamp == "$(DEMO_STAMP)"
    installs = [line for line in make_recipe(demo_stamp)[1] if "pip install" in line]
    assert installs == ["$(BIN)/python -m pip install --quiet -e '.[flask]'"]
    [test_stamp] = make_recipe("test")[0]
    installs = [line for line in make_recipe(test_stamp)[1] if "pip install" in line]
    assert any("'.[flask,django,postgres,dev,docs,bench]'" in line for line in installs)
