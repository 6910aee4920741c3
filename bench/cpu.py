"""``python -m bench.cpu [NAME...]``: CPU time per call of the hot paths of :mod:`bench.profile`.

Runs each path (``conversion``, ``visit``, ``attribution``, ``landing``; all by default) in
seven blocks of 300 calls after 50 warm-up calls, on an SQLite file, and prints the CPU time
(``time.process_time``: user and system time of this process) per call, the best block and
the median. CPU time is disturbed far less than wall time by other jobs on a shared machine,
so two checkouts can be compared by running this in each, alternately. Not part of
``make bench``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence

from .profile import PATHS, _directory

__all__ = ["cpu_per_call", "main"]


def cpu_per_call(name: str, count: int = 300, blocks: int = 7) -> tuple[float, float]:
    """The best and the median block's CPU µs per call of the path ``name``."""
    per_call: list[float] = []
    with _directory() as directory:
        run = PATHS[name](directory, 50 + count * blocks)
        for i in range(50):
            run(i)
        done = 50
        for _ in range(blocks):
            start = time.process_time()
            for i in range(done, done + count):
                run(i)
            done += count
            per_call.append((time.process_time() - start) / count * 1e6)
    return min(per_call), statistics.median(per_call)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"one of {', '.join(PATHS)}")
    options = parser.parse_args(argv)
    unknown = sorted(set(options.names) - set(PATHS))
    if unknown:
        parser.error(f"unknown path(s): {', '.join(unknown)}")
    for name in options.names or PATHS:
        best, median = cpu_per_call(name)
        print(f"{name:12s} best {best:7.1f} µs  median {median:7.1f} µs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
