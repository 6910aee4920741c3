"""refkit against pinax-referrals, the referral app a Django shop would pick, on SQLite files.

The three operations of a referral, each on fresh users every round (no cache helps either
side), at the library level on both sides (no HTTP layer):

* **signup link**: a new referrer's shareable link. refkit: :meth:`ReferralProgram.link_for`
  (the first call assigns the referrer number: a read, then an insert). pinax:
  ``Referral.create(redirect_to=..., user=...)`` and its ``url`` (``get_or_create``: a read,
  a random 40-character code checked for collisions, an insert; ``reverse`` and the cached
  ``Site``): what its ``create_referral`` view does, less the JSON.
* **landing capture**: a visitor arrives with the code. refkit: :meth:`fingerprint` of the
  click (keyed hashes of IP and user agent, which the Flask extension keeps in its cookie)
  and :meth:`record_visit` with a visitor key. pinax: what its ``process_referral`` view does,
  less the redirect: ``Referral.objects.get(code=...)``, ``is_active()``, the session key and
  a ``RESPONDED`` response (session key, IP, HTTP referrer). The visitor's session already
  has its key, so no session row is written (refkit's cookie needs no row either).
* **response record**: the visitor signs up. refkit: :meth:`attribute` of the new user to
  the code (with the click's fingerprint), which also refuses self-referrals, second
  referrers, cycles and shared emails. pinax: ``Referral.record_response(request,
  "SIGN_UP")`` with the new user given (its ``referral_for_request`` finds the visitor's
  latest response by session key, with no index on it, then ``respond``): it records, it
  refuses nothing.

A fourth row, reported without a target as the frameworks' share is in it, opens the link
over HTTP through each framework's test client: refkit's Flask ``/r/<code>`` (the visit, the
signed cookie, the redirect) against pinax's ``/referrals/<code>/`` under Django's session,
auth and pinax middleware (the lookup, a new session row, the response, the redirect).

refkit's landing and sign-up each go through their own :class:`ReferralProgram` (on the same
file), as in another worker process: the code's referrer is not in its cache.

pinax-referrals and Django run in their own virtualenv, ``bench/.venv-pinax``, built on first
use from ``bench/pinax_side/requirements.txt`` (and rebuilt when that file changes), in a
long-lived worker process (``bench/pinax_side/worker.py``) that times each batch itself, so
the pipe is not counted. Both sides use SQLite files in one temporary directory with the same
settings (WAL, ``synchronous=NORMAL``, ``BEGIN IMMEDIATE`` writes, foreign keys) and
alternate, batch by batch, in the same run.
"""

from __future__ import annotations

import gc
import hashlib
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Final

from refkit import Fingerprint, ReferralProgram

from .harness import Report, Row, median, ratio

__all__ = [
    "FULL",
    "OPS",
    "QUICK",
    "REQUIREMENTS",
    "VENV",
    "PinaxWorker",
    "RefkitSide",
    "Sizes",
    "build_venv",
    "run",
    "venv_ready",
]

HERE = Path(__file__).resolve().parent
SIDE = HERE / "pinax_side"
REQUIREMENTS = SIDE / "requirements.txt"
WORKER = SIDE / "worker.py"
VENV = HERE / ".venv-pinax"
STAMP_NAME = ".requirements-sha256"

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
TARGET = 1.0
LINK_URL = "https://shop.example/signup/"
IP = "203.0.113.7"
#: A browser's (the Flask extension counts no visit from clients that look like bots).
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) bench/1.0"

#: The operations in the order a round runs them (each needs the one before).
OPS: Final = ("link", "landing", "http_landing", "signup")
#: The rows, in the order of the table, and their targets.
ROWS: Final = {
    "landing": ("vs pinax: landing capture", TARGET),
    "link": ("vs pinax: signup link", TARGET),
    "signup": ("vs pinax: response record", TARGET),
    # The frameworks' share (Flask against Django) is in it: reported, no target.
    "http_landing": ("vs pinax: landing over HTTP", None),
}
BASELINES: Final = {
    "landing": "Referral.objects.get(code) + respond(RESPONDED) (process_referral's work)",
    "link": "Referral.create(redirect_to, user) + .url (create_referral's work)",
    "signup": "record_response(request, SIGN_UP) with the new user (session lookup + respond)",
    "http_landing": "GET /referrals/<code>/ through Django's test client, with session, auth "
    "and pinax middleware (refkit: GET /r/<code> through Flask's test client)",
}


@dataclass(frozen=True)
class Sizes:
    users: int  # fresh referrers (and visitors who sign up) per round and side
    rounds: int  # alternating rounds after one warm-up round: median round, median paired ratio


FULL = Sizes(users=100, rounds=30)
QUICK = Sizes(users=50, rounds=8)


# -- the pinax virtualenv --------------------------------------------------------------------


def _python(venv: Path) -> Path:
    return venv / "bin" / "python"


def _digest() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def venv_ready(venv: Path | None = None) -> bool:
    """Whether ``venv`` (default :data:`VENV`) has pinax-referrals installed from the current
    requirements."""
    venv = venv or VENV
    stamp = venv / STAMP_NAME
    try:
        return _python(venv).exists() and stamp.read_text().strip() == _digest()
    except OSError:
        return False


def build_venv(venv: Path | None = None) -> str | None:
    """Create ``venv`` (default :data:`VENV`) and install the pinax side's requirements,
    unless it is ready.

    Returns ``None`` on success, else why it failed (no network, no ``venv`` module...).
    """
    venv = venv or VENV
    if venv_ready(venv):
        return None
    print(f"bench: building {venv} (pinax-referrals, Django)...", file=sys.stderr, flush=True)
    commands = [
        # From this interpreter, so both sides run the same Python.
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(_python(venv)), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
    ]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    for command in commands:
        try:
            subprocess.run(  # noqa: S603  (our own fixed commands)
                command, check=True, capture_output=True, text=True, timeout=900, env=env
            )
        except subprocess.CalledProcessError as error:
            tail = " ".join((error.stderr or error.stdout or "").strip().splitlines()[-3:])
            return f"vs pinax: skipped, `{' '.join(command[-3:])}` failed: {tail[-400:]}"
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"vs pinax: skipped, could not build {venv}: {error}"
    (venv / STAMP_NAME).write_text(_digest() + "\n")
    return None


# -- the two sides -----------------------------------------------------------------------------


class RefkitSide:
    """refkit's half: the same three operations, timed in this process.

    ``links`` issues the links; ``landings``, ``signups`` and the Flask app's program are
    others on the same file, standing for other worker processes, so no code's referrer is
    in their cache.
    """

    def __init__(self, url: str, rounds: int, size: int) -> None:
        from flask import Flask

        from refkit_flask import RefKit

        self.links = ReferralProgram(SECRET, url)
        self.links.create_all()
        self.landings = ReferralProgram(SECRET, url)
        self.signups = ReferralProgram(SECRET, url)
        self.app = Flask("bench_pinax")
        self.app.config.update(SECRET_KEY=SECRET, REFKIT_SECRET_KEY=SECRET)
        RefKit(self.app, store=url)
        self.size = size
        self.referrers = [[f"ref-{r}-{i}" for i in range(size)] for r in range(rounds)]
        self.newcomers = [[f"new-{r}-{i}" for i in range(size)] for r in range(rounds)]
        self.visitors = [[secrets.token_hex(16) for _ in range(size)] for _ in range(rounds)]
        self.codes: dict[int, list[str]] = {}
        self.clicks: dict[int, list[Fingerprint]] = {}

    def close(self) -> None:
        for program in (self.links, self.landings, self.signups, self._app_program()):
            program.store.close()

    def _app_program(self) -> ReferralProgram:
        program: ReferralProgram = self.app.extensions["refkit"].program
        return program

    def link(self, index: int) -> float:
        """:meth:`link_for` each new referrer; the seconds of the batch."""
        links = self.links
        users = self.referrers[index]

        def batch() -> None:
            for user in users:
                links.link_for(user, LINK_URL)

        elapsed = _timed(batch)
        self.codes[index] = [links.code_for(user) for user in users]  # cached: not timed
        return elapsed

    def landing(self, index: int) -> float:
        """Each visitor lands with one of the round's codes: the click's fingerprint and
        :meth:`record_visit`."""
        program = self.landings
        pairs = list(zip(self.codes[index], self.visitors[index], strict=True))
        clicks: list[Fingerprint] = []

        def batch() -> None:
            for code, visitor in pairs:
                clicks.append(program.fingerprint(ip=IP, user_agent=USER_AGENT))
                program.record_visit(code, visitor=visitor)

        elapsed = _timed(batch)
        self.clicks[index] = clicks
        return elapsed

    def http_landing(self, index: int) -> float:
        """A new visitor each opens ``/r/<code>`` through Flask's test client (the visit,
        the signed cookie, the redirect)."""
        headers = {"User-Agent": USER_AGENT, "Referer": "https://social.example/1"}
        visits = [(self.app.test_client(), f"/r/{code}") for code in self.codes[index]]

        def batch() -> None:
            for client, path in visits:
                response = client.get(path, headers=headers)
                if response.status_code != 302 or "Set-Cookie" not in response.headers:
                    raise AssertionError(f"the landing answered {response.status_code}")

        return _timed(batch)

    def signup(self, index: int) -> float:
        """Each visitor signs up: :meth:`attribute` with the code they landed with."""
        program = self.signups
        items = list(zip(self.newcomers[index], self.codes[index], self.clicks[index], strict=True))

        def batch() -> None:
            for user, code, click in items:
                program.attribute(user, code, click=click)

        return _timed(batch)

    def check(self) -> str:
        summary = self.links.summary()
        return f"referrers={summary.referrers} visits={summary.visits} signups={summary.signups}"

    def run(self, op: str, index: int) -> float:
        operation: dict[str, Callable[[int], float]] = {
            "link": self.link,
            "landing": self.landing,
            "http_landing": self.http_landing,
            "signup": self.signup,
        }
        return operation[op](index)


class PinaxWorker:
    """pinax-referrals' half: ``bench/pinax_side/worker.py`` under the pinax virtualenv."""

    def __init__(self, python: Path, db_path: Path, log: IO[str]) -> None:
        self._log = log
        self._process = subprocess.Popen(  # noqa: S603  (the worker, by its path)
            [str(python), str(WORKER), str(db_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            bufsize=1,
        )

    def __enter__(self) -> PinaxWorker:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def ask(self, command: str) -> str:
        """Send one command line; its one-line answer (an ``error`` answer raises)."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            stdin.write(command + "\n")
            stdin.flush()
        except BrokenPipeError:
            pass  # the worker died: readline says so below
        answer = stdout.readline().strip()
        if not answer or answer.startswith("error"):
            self._log.flush()
            self._log.seek(0)
            log = self._log.read()[-2000:]
            raise RuntimeError(f"the pinax worker failed on {command!r}: {answer}\n{log}")
        return answer

    def setup(self, rounds: int, size: int) -> str:
        return self.ask(f"setup {rounds} {size}")

    def run(self, op: str, index: int, size: int) -> float:
        return float(self.ask(f"run {op} {index} {size}"))

    def check(self) -> str:
        return self.ask("check")

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            try:
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def _timed(batch: Callable[[], None]) -> float:
    """The batch's seconds, after a full collection (as the worker and the harness do)."""
    gc.collect()
    start = time.perf_counter()
    batch()
    return time.perf_counter() - start


# -- the benchmark -----------------------------------------------------------------------------


def run(quick: bool = False, *, sizes: Sizes | None = None, build: bool = True) -> Report:
    """Time the three operations on both sides in alternating rounds.

    With ``build=False`` the pinax virtualenv is never created: without it the report only
    holds a note. The same note (and no exception) when it cannot be built.
    """
    sizes = sizes or (QUICK if quick else FULL)
    if build:
        problem = build_venv()
    else:
        problem = None if venv_ready() else f"vs pinax: skipped, {VENV} is not built"
    if problem is not None:
        return Report(notes=[problem])
    with tempfile.TemporaryDirectory(prefix="refkit-bench-pinax-") as name:
        directory = Path(name)
        rounds = sizes.rounds + 1  # round 0 warms both sides up and is not counted
        refkit = RefkitSide(f"sqlite:///{directory / 'refkit.db'}", rounds, sizes.users)
        try:
            with (
                (directory / "worker.log").open("w+") as log,
                PinaxWorker(_python(VENV), directory / "pinax.db", log) as pinax,
            ):
                return _run(refkit, pinax, sizes.users, rounds)
        finally:
            refkit.close()


def _run(refkit: RefkitSide, pinax: PinaxWorker, size: int, rounds: int) -> Report:
    ready = pinax.setup(rounds, size)
    versions = dict(word.split("=", 1) for word in ready.split()[1:])
    mine: dict[str, list[float]] = {op: [] for op in OPS}
    theirs: dict[str, list[float]] = {op: [] for op in OPS}
    for index in range(rounds):
        for position, op in enumerate(OPS):
            # Who goes first alternates from batch to batch (warm caches, a busy machine).
            if (index + position) % 2 == 0:
                ours = refkit.run(op, index)
                other = pinax.run(op, index, size)
            else:
                other = pinax.run(op, index, size)
                ours = refkit.run(op, index)
            if index > 0:
                mine[op].append(ours / size)
                theirs[op].append(other / size)
    what = (
        f"pinax-referrals {versions['pinax-referrals']} on Django {versions['django']}, "
        "SQLite file, same settings"
    )
    report = Report()
    for op, (name, target) in ROWS.items():
        row = Row(
            name,
            median(mine[op]) * 1e6,
            median(theirs[op]) * 1e6,
            "µs",
            ratio(mine[op], theirs[op]),
            target,
            baseline_is=f"{what}: {BASELINES[op]}",
        )
        report.rows.append(row)
    report.notes.append(
        f"vs pinax: {rounds - 1} rounds (after a warm-up) of {size} fresh users per "
        "operation and side, the side going first alternating; µs = median round, timed in "
        "each process (the worker's pipe is not counted); pinax's SQLite: "
        f"journal_mode={versions['journal_mode']}, synchronous={versions['synchronous']}; "
        f"counts: refkit {refkit.check()}, pinax {pinax.check()}"
    )
    return report
