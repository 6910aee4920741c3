"""Offline code checks: the price of ``resolve`` on every landing and checkout.

Subject: :meth:`ReferralProgram.resolve` on codes whose user is already cached, and
:meth:`CodeCodec.parse`. Baseline: the unavoidable work of any signed hashids code, done by
hand: decode the 11-character body with the codec's own :class:`~hashids.Hashids` instance and
compute one HMAC-SHA256 (32-byte key) of an 8-byte message. Refusals (a 1 MB hostile string, a
random 12-character string) are timed against the same baseline, for scale.
"""

from __future__ import annotations

import contextlib
import hmac
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from refkit import InvalidCode, ReferralProgram
from refkit.codes import ALPHABET, BODY_LENGTH, TAG_BITS

from .harness import Batch, Report, Row, best, interleaved, ratio

__all__ = ["FULL", "QUICK", "Sizes", "run"]

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
TARGET = 1.3
BASELINE = "hashids decode of the 11-char body + one HMAC-SHA256 of 8 bytes (per code)"


@dataclass(frozen=True)
class Sizes:
    codes: int  # distinct codes (and random strings), used in turn
    batch: int  # codes per timed batch: short batches are less often preempted
    rounds: int  # interleaved rounds: best round for µs, median paired ratio


FULL = Sizes(codes=400, batch=50, rounds=200)
QUICK = Sizes(codes=300, batch=50, rounds=60)
#: A megabyte that looks like codes and separators: a parser that strips separators or
#: upper-cases before checking the length pays for all of it.
HOSTILE = "K7WQ-" * 200_000


def run(sizes: Sizes = FULL) -> Report:
    """Time the code checks on distinct codes in interleaved rounds."""
    program = ReferralProgram(SECRET, "memory://")
    try:
        return _run(program, sizes)
    finally:
        program.store.close()


def _run(program: ReferralProgram, sizes: Sizes) -> Report:
    count, size = sizes.codes, sizes.batch
    users = [f"user-{i}" for i in range(count)]
    valid = [program.code_for(user) for user in users]
    if [program.resolve(code) for code in valid] != users:  # also fills the user cache
        raise AssertionError("resolve did not return the codes' users")
    codec = program._codec
    hashids = codec._hashids
    key = secrets.token_bytes(32)
    bodies = _chunks([code[:BODY_LENGTH] for code in valid], size)

    def baseline(index: int) -> int:
        chunk = bodies[index % len(bodies)]
        for body in chunk:
            number = hashids.decode(body)[0] >> TAG_BITS
            hmac.digest(key, number.to_bytes(8, "big"), "sha256")
        return len(chunk)

    def calls(function: Callable[[str], object], texts: list[str]) -> Batch:
        chunks = _chunks(texts, size)

        def batch(index: int) -> int:
            chunk = chunks[index % len(chunks)]
            for text in chunk:
                function(text)
            return len(chunk)

        return batch

    def refusals(texts: list[str]) -> Batch:
        chunks = _chunks(texts, size)

        def batch(index: int) -> int:
            chunk = chunks[index % len(chunks)]
            for text in chunk:
                with contextlib.suppress(InvalidCode):
                    program.resolve(text)
            return len(chunk)

        return batch

    noise = random.Random(20260301)
    random_texts = ["".join(noise.choices(ALPHABET, k=12)) for _ in range(count)]
    random_texts = [text for text in random_texts if _refused(program, text)]
    if not _refused(program, HOSTILE):
        raise AssertionError("a 1 MB string was accepted as a code")
    subjects = {
        "code: resolve (user cached)": (calls(program.resolve, valid), TARGET),
        "code: CodeCodec.parse": (calls(codec.parse, valid), TARGET),
        "code: refuse a 1 MB string": (refusals([HOSTILE] * size), None),
        "code: refuse random 12 chars": (refusals(random_texts), None),
    }
    batches = {name: batch for name, (batch, _) in subjects.items()}
    times = interleaved({**batches, "baseline": baseline}, sizes.rounds, collect=False)
    theirs = best(times["baseline"]) * 1e6
    report = Report()
    for name, (_, target) in subjects.items():
        mine, paired = best(times[name]) * 1e6, ratio(times[name], times["baseline"])
        row = Row(name, mine, theirs, "µs", paired, target, baseline_is=BASELINE)
        report.rows.append(row)
    return report


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _refused(program: ReferralProgram, text: str) -> bool:
    try:
        program.resolve(text)
    except InvalidCode:
        return True
    return False
