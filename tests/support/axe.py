"""axe-core for the browser tests (a pytest plugin registered by conftest): the ``axe_source``
fixture and :func:`audit`, which checks a page the way the issue-15 audit did.

axe-core comes from the npm registry, pinned to :data:`AXE_VERSION`: the first run packs it
with ``npm pack`` (which checks the registry's integrity hash) into a cache folder,
``$REFKIT_AXE_CACHE`` or ``~/.cache/refkit-axe``, and later runs read the cached file.
``REFKIT_AXE_JS=/path/to/axe.min.js`` uses that file instead. Without npm (or the network)
the tests skip, saying why; with ``CI=true`` they fail, since ``.ci/run`` installs npm.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

from .browser_fixtures import IN_CI

__all__ = [
    "AXE_VERSION",
    "TAGS",
    "audit",
    "axe_source",
    "axe_violations",
    "field_border_problems",
    "focus_problems",
    "load_axe",
]

#: The newest axe-core 4.x when this was written (``npm view axe-core versions``).
AXE_VERSION = "4.14.1"
#: WCAG 2.1 level A and AA.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
#: How many controls a page may have before the focus walk gives up (a runaway page).
MAX_CONTROLS = 400


def _cache() -> Path:
    configured = os.environ.get("REFKIT_AXE_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "refkit-axe"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the accessibility test must run; .ci/run installs npm)")
    pytest.skip(f"{reason}; the accessibility test needs it (it runs in CI)")


def load_axe(version: str = AXE_VERSION) -> str:
    """axe.min.js of ``version``: from ``$REFKIT_AXE_JS``, the cache, or ``npm pack``.

    :raises RuntimeError: npm is missing or could not fetch the package.
    """
    given = os.environ.get("REFKIT_AXE_JS")
    if given:
        return Path(given).read_text(encoding="utf-8")
    cached = _cache() / f"axe-core-{version}.min.js"
    if cached.exists():
        return cached.read_text(encoding="utf-8")
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is missing (apt-get install npm)")
    with tempfile.TemporaryDirectory() as folder:
        packed = subprocess.run(  # noqa: S603 - a fixed command
            [npm, "pack", f"axe-core@{version}", "--pack-destination", folder, "--silent"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=folder,
            check=False,
        )
        tarballs = list(Path(folder).glob("axe-core-*.tgz"))
        if packed.returncode != 0 or not tarballs:
            raise RuntimeError(f"npm pack axe-core@{version} failed: {packed.stderr.strip()}")
        with tarfile.open(tarballs[0]) as archive:
            member = archive.extractfile("package/axe.min.js")
            if member is None:  # pragma: no cover - the package always has it
                raise RuntimeError("axe-core's package has no axe.min.js")
            source = io.TextIOWrapper(member, encoding="utf-8").read()
    if f"axe v{version}" not in source[:200]:
        raise RuntimeError(f"the packed axe.min.js is not version {version}")
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part")
    partial.write_text(source, encoding="utf-8")
    partial.replace(cached)  # atomic: parallel sessions never read half a file
    return source


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe.min.js (see :func:`load_axe`); skips without npm, fails under ``CI=true``."""
    try:
        return load_axe()
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as error:
        _unavailable(f"axe-core {AXE_VERSION} could not be loaded: {error}")
        raise  # pragma: no cover - _unavailable raised


def axe_violations(page: Any, source: str) -> list[str]:
    """axe's WCAG 2.1 A/AA violations on the page, one line each (rule, impact, elements).

    axe runs through the DevTools protocol (``page.evaluate``), which the page's
    Content-Security-Policy does not govern, so the page keeps its strict CSP."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(f"() => {{ {source}\n}}")
    results = page.evaluate(
        """async (tags) => {
            const found = await axe.run(document, {
                runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return found.violations.map(v => [v.id, v.impact, v.help,
                v.nodes.slice(0, 5).map(n => n.target.join(" ") + ": " +
                    (n.failureSummary || "").split("\\n").slice(1, 3).join(" "))]);
        }""",
        TAGS,
    )
    return [
        f"{rule} ({impact}): {help_text}: {nodes}" for rule, impact, help_text, nodes in results
    ]


_FOCUS_STYLE = """() => {
    const element = document.activeElement;
    if (!element || element === document.body) return null;
    const style = getComputedStyle(element);
    const ring = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 1;
    const shadow = style.boxShadow && style.boxShadow !== "none";
    const box = element.getBoundingClientRect();
    // the ring must not be cut off by an ancestor that clips its overflow
    const reach = parseFloat(style.outlineWidth || "0") +
        Math.max(0, parseFloat(style.outlineOffset || "0"));
    let clippedBy = null;
    for (let parent = element.parentElement; parent && !clippedBy; parent = parent.parentElement) {
        const own = getComputedStyle(parent);
        if (own.overflowX === "visible" && own.overflowY === "visible") continue;
        const frame = parent.getBoundingClientRect();  // overflow clips at the padding box
        const left = frame.left + parent.clientLeft, top = frame.top + parent.clientTop;
        const right = left + parent.clientWidth, bottom = top + parent.clientHeight;
        if (box.left - reach < left - 0.5 || box.right + reach > right + 0.5 ||
            box.top - reach < top - 0.5 || box.bottom + reach > bottom + 0.5)
            clippedBy = parent.tagName.toLowerCase() +
                (parent.className ? "." + parent.className : "");
    }
    const name = element.tagName.toLowerCase() + (element.id ? "#" + element.id : "") +
        (element.name ? "[name=" + element.name + "]" : "") + " '" +
        (element.innerText || element.value || element.getAttribute("aria-label") || "")
            .trim().slice(0, 40) + "'";
    return {name, visible: element.matches(":focus-visible") && (ring || shadow),
            onScreen: box.width > 0 && box.height > 0, clippedBy};
}"""


def focus_problems(page: Any) -> list[str]:
    """Tab through every control of the page: each must show a focus ring (an outline or a
    box shadow while ``:focus-visible``). Returns the controls that do not."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); }")
    page.evaluate("() => window.scrollTo(0, 0)")
    problems, seen = [], []
    for _ in range(MAX_CONTROLS):
        page.keyboard.press("Tab")
        found = page.evaluate(_FOCUS_STYLE)
        if found is None:
            break
        marker = page.evaluate(
            "() => { const e = document.activeElement; if (e.dataset.refkitSeen) return true;"
            " e.dataset.refkitSeen = '1'; return false; }"
        )
        if marker:
            break  # round the page once
        seen.append(found["name"])
        if not found["visible"]:
            problems.append(f"no visible focus on {found['name']}")
        if found["clippedBy"]:
            problems.append(f"the focus ring of {found['name']} is cut by {found['clippedBy']}")
        if not found["onScreen"]:
            problems.append(f"focus on an invisible control {found['name']}")
    else:
        problems.append(f"more than {MAX_CONTROLS} controls: the focus walk gave up")
    if not seen:
        problems.append("no control took the focus")
    return problems


_FIELD_BORDERS = """() => {
    const luminance = (colour) => {
        const [r, g, b] = colour.match(/[0-9.]+/g).slice(0, 3).map(Number).map(value => {
            value /= 255;
            return value <= 0.03928 ? value / 12.92 : ((value + 0.055) / 1.055) ** 2.4;
        });
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const behind = (element) => {
        for (let e = element.parentElement; e; e = e.parentElement) {
            const colour = getComputedStyle(e).backgroundColor;
            if (colour && colour !== "transparent" && !colour.startsWith("rgba(0, 0, 0, 0)"))
                return colour;
        }
        return "rgb(255, 255, 255)";
    };
    const fields = document.querySelectorAll(
        "input:not([type=hidden]):not([type=checkbox]):not([type=radio]), select, textarea");
    return [...fields].filter(e => e.offsetParent !== null).map(e => {
        const style = getComputedStyle(e);
        if (style.borderTopStyle === "none" || parseFloat(style.borderTopWidth) === 0)
            return [e.name || e.id, 0];
        const a = luminance(style.borderTopColor), b = luminance(behind(e));
        return [e.name || e.id, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
    });
}"""


def field_border_problems(page: Any) -> list[str]:
    """Form fields whose border is under 3:1 against what is behind them (WCAG 1.4.11,
    which axe does not check)."""
    return [
        f"the border of field {name!r} is {ratio:.2f}:1 against its background (3:1 needed)"
        for name, ratio in page.evaluate(_FIELD_BORDERS)
        if ratio < 3
    ]


def audit(page: Any, source: str) -> list[str]:
    """Everything wrong with the page: axe's WCAG 2.1 AA violations, form fields' borders
    under 3:1, sideways scrolling, and controls without a visible, unclipped focus ring."""
    problems = axe_violations(page, source) + field_border_problems(page)
    width, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    if width > inner:
        problems.append(f"scrolls sideways: {width} px of content in a {inner} px window")
    problems += focus_problems(page)
    return problems
