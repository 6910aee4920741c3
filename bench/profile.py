"""``python -m bench.profile NAME``: where the time of one hot path goes, by pyinstrument.

Runs the path a few hundred times after a warm-up and prints pyinstrument's call tree, so a
hot spot found in the table can be looked at without writing a script. NAME is one of
:data:`PATHS`. Not part of ``make bench``: a profile is for reading, not for comparing.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from refkit import ReferralProgram

from .conversions import AMOUNT, CURRENCY, RULES, SECRET, _bind

__all__ = ["PATHS", "main", "profile"]

#: One prepared path: setup returns the call to profile (gets an index, runs once).
Prepared = Callable[[Path, int], Callable[[int], object]]


def _conversion(directory: Path, count: int) -> Callable[[int], object]:
    program = ReferralProgram(SECRET, f"sqlite:///{directory}/refkit.db", RULES)
    referees = [f"referee-{i}" for i in range(count)]
    _bind(program, referees)
    return lambda i: program.record_conversion(f"o-{i}", referees[i], AMOUNT, CURRENCY)


def _visit(directory: Path, count: int) -> Callable[[int], object]:
    program = ReferralProgram(SECRET, f"sqlite:///{directory}/refkit.db", RULES)
    code = program.code_for("referrer")
    return lambda i: program.record_visit(code, visitor=f"visitor-{i}")


def _attribution(directory: Path, count: int) -> Callable[[int], object]:
    program = ReferralProgram(SECRET, f"sqlite:///{directory}/refkit.db", RULES)
    code = program.code_for("referrer")
    return lambda i: program.attribute(f"referee-{i}", code)


def _landing(directory: Path, count: int) -> Callable[[int], object]:
    from .flask_views import BROWSER_USER_AGENT, _call, _environ
    from .wsgi_app import refkit_app

    app = refkit_app(directory)
    code = app.extensions["refkit"].program.code_for("referrer")
    environs = [_environ(f"/r/{code}", {"User-Agent": BROWSER_USER_AGENT}) for _ in range(count)]
    return lambda i: _call(app, environs[i])


def _checkout_path(referred: bool) -> Prepared:
    """The Flask shop's ``POST /checkout`` (:mod:`bench.wsgi_app`): a customer bound in the
    set-up (a conversion with two rewards), or one nobody referred (a conversion without)."""

    def prepare(directory: Path, count: int) -> Callable[[int], object]:
        from .flask_views import _call, _checkout
        from .wsgi_app import refkit_app

        app = refkit_app(directory)
        customers = [f"customer-{i}" for i in range(count)]
        if referred:
            _bind(app.extensions["refkit"].program, customers)
        environs = [_checkout(f"o-{i}", customer) for i, customer in enumerate(customers)]
        return lambda i: _call(app, environs[i])

    return prepare


PATHS: dict[str, Prepared] = {
    "conversion": _conversion,
    "visit": _visit,
    "attribution": _attribution,
    "landing": _landing,
    "checkout": _checkout_path(referred=True),
    "checkout-solo": _checkout_path(referred=False),
}


@contextmanager
def _directory() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="refkit-profile-") as directory:
        yield Path(directory)


def profile(name: str, count: int = 500, warmup: int = 50) -> str:
    """pyinstrument's text report of ``count`` runs of the path ``name``."""
    from pyinstrument import Profiler

    with _directory() as directory:
        run = PATHS[name](directory, warmup + count)
        for i in range(warmup):
            run(i)
        profiler = Profiler(interval=0.0002)
        profiler.start()
        for i in range(warmup, warmup + count):
            run(i)
        profiler.stop()
        return profiler.output_text(unicode=True, color=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("name", choices=list(PATHS))
    parser.add_argument("--count", type=int, default=500, help="profiled runs (default 500)")
    options = parser.parse_args(argv)
    print(profile(options.name, options.count))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
