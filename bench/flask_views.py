"""Flask: refkit's landing and checkout against the same views without refkit, and a load test.

The two shops are in :mod:`bench.wsgi_app`. "The same view without refkit" is:

* ``GET /r/<code>``: what a shop without refkit would hand-roll, a plain cookie holding the
  code (HttpOnly, SameSite=Lax, 30 days) and a redirect to ``/``; no check of the code, no
  visit counted, no signature. refkit's landing checks the code (HMAC), counts the visit (one
  INSERT and commit in its SQLite file) for a new visitor, keeps the code in a signed cookie
  and redirects. Timed for a new visitor (a browser User-Agent, no cookie: the visit is
  written) and for the same visitor again the same day (its cookie already holds the code:
  nothing is written).
* ``POST /checkout``: the shop's checkout, which reads the form and writes the order to the
  shop's own SQLite file (one INSERT, committed; WAL, ``synchronous=NORMAL``, as refkit's),
  so the comparison is "shop checkout" against "shop checkout + refkit": the same view
  decorated with ``@refkit.track_conversion`` and calling ``refkit.conversion(...)``. Timed
  for a referred customer's first order (bound with ``program.attribute`` in the set-up: each
  checkout records a conversion with two rewards) and for a customer nobody referred (the
  common case: a conversion without rewards).

In process, each request is one call of the app's WSGI callable on a prebuilt environ (no test
client, no HTTP): both sides pay only Flask's own work. refkit and the baselines run in
interleaved rounds (µs: best round; ratio: median of refkit/baseline in the same round).

Under load, each shop runs under gunicorn (sync workers) on loopback and wrk drives it: the
landing with a browser User-Agent and no cookie jar (every request is a new visitor), and the
checkout with a Lua script posting a new order id and customer on every request, a guest who
types a referral code at checkout (refkit binds and rewards them) or nobody's referee. Both
servers run at once (same settings); each part runs on both back to back, after a warm-up.
wrk and the servers share the machine's CPUs. ``REFKIT_RAISE_ERRORS`` is on, so a refkit failure
("database is locked") answers 500 and counts as an error; after the run, the orders the shop
stored are checked against the conversions and rewards refkit stored.

The joined part drives a third shop, :func:`~bench.wsgi_app.joined_app`: the same checkout
on Flask-SQLAlchemy with refkit's tables in the shop's SQLite file (``store=db.engine``) and
``RefKit(session=db.session)``, so the order and its conversion are one transaction (the
guest types a code: refkit binds and rewards them), against the same plain shop.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from wsgiref.types import WSGIApplication, WSGIEnvironment

from flask import Flask
from werkzeug.test import EnvironBuilder

from refkit import ReferralProgram
from refkit_flask import RefKitState
from refkit_flask.testing import BROWSER_USER_AGENT

from .harness import Batch, PgLine, Report, Row, best, interleaved, ratio
from .wsgi_app import (
    ENV_APP,
    ENV_DIR,
    RULES,
    SECRET,
    Orders,
    joined_app,
    joined_database,
    plain_app,
    refkit_app,
    refkit_database,
    shop_database,
)

__all__ = [
    "FULL",
    "LOAD_FULL",
    "LOAD_QUICK",
    "QUICK",
    "PARTS",
    "LoadSizes",
    "Sizes",
    "WrkResult",
    "missing_tools",
    "parse_wrk",
    "run",
    "run_load",
    "run_views",
]

TARGET = 1.3
AMOUNT = "49.90"
REFERRERS = 20
ROOT = Path(__file__).resolve().parent.parent
LANDING_BASELINE = (
    "the same Flask app's hand-rolled GET /r/<code>: a plain cookie with the code and a "
    "redirect to / (WSGI call in process)"
)
CHECKOUT_BASELINE = (
    "the same Flask checkout without refkit: read the form, INSERT the order into the shop's "
    "own SQLite file (WAL), answer 200 (WSGI call in process)"
)


@dataclass(frozen=True)
class Sizes:
    requests: int  # requests per timed batch, for each case and side
    rounds: int  # interleaved rounds: best round for µs, median paired ratio


@dataclass(frozen=True)
class LoadSizes:
    duration: int  # seconds of each measured wrk run
    warmup: int  # seconds of wrk before it, same requests (0: none)
    connections: int = 16  # wrk connections
    threads: int = 2  # wrk threads
    workers: int = 2  # gunicorn sync workers (this machine has 2 CPUs)


FULL = Sizes(requests=40, rounds=25)
QUICK = Sizes(requests=20, rounds=8)
LOAD_FULL = LoadSizes(duration=10, warmup=2)
LOAD_QUICK = LoadSizes(duration=3, warmup=1)


def run(quick: bool = False) -> Report:
    """The in-process ratios, then the load test (or a note saying what it needs)."""
    report = run_views(QUICK if quick else FULL)
    load = run_load(LOAD_QUICK if quick else LOAD_FULL)
    return Report(report.rows + load.rows, report.lines + load.lines, report.notes + load.notes)


# -- in process: refkit against the same views without it ----------------------------------


def run_views(sizes: Sizes = FULL) -> Report:
    """Time the landing and the checkout on both shops in interleaved rounds."""
    with tempfile.TemporaryDirectory(prefix="refkit-bench-flask-") as name:
        directory = Path(name)
        subject, plain = refkit_app(directory), plain_app(directory)
        try:
            return _run_views(subject, plain, sizes)
        finally:
            _state(subject).program.store.close()
            for app in (subject, plain):
                _orders(app).close()


def _state(app: Flask) -> RefKitState:
    state: RefKitState = app.extensions["refkit"]
    return state


def _orders(app: Flask) -> Orders:
    orders: Orders = app.extensions["bench_orders"]
    return orders


def _run_views(subject: Flask, plain: Flask, sizes: Sizes) -> Report:
    # Set-up, not timed: referrers' codes, the returning visitor's cookie, bound referees,
    # and one environ per request (each is used once: a POST's body is a stream).
    program = _state(subject).program
    codes = [program.code_for(f"referrer-{i}") for i in range(REFERRERS)]
    cookie = _referral_cookie(subject, codes[0])
    count, rounds = sizes.requests, sizes.rounds
    keys = ["w", *(str(r) for r in range(rounds))]  # a warm-up batch, then one per round
    referees = {key: [f"ref-{key}-{i}" for i in range(count)] for key in keys}
    for key in keys:
        for i, referee in enumerate(referees[key]):
            program.attribute(referee, codes[i % REFERRERS])

    def landings(headers: dict[str, str], spread: int) -> dict[str, list[WSGIEnvironment]]:
        return {
            key: [_environ(f"/r/{codes[i % spread]}", headers) for i in range(count)]
            for key in keys
        }

    def checkouts(prefix: str) -> dict[str, list[WSGIEnvironment]]:
        return {
            key: [_checkout(f"o-{prefix}-{key}-{i}", f"{prefix}-{key}-{i}") for i in range(count)]
            for key in keys
        }

    browser = {"User-Agent": BROWSER_USER_AGENT}
    returning = {**browser, "Cookie": f"{_state(subject).settings.cookie_name}={cookie}"}
    cases: dict[str, tuple[WSGIApplication, dict[str, list[WSGIEnvironment]], str]] = {
        "landing, new": (subject, landings(browser, REFERRERS), "302"),
        "landing, returning": (subject, landings(returning, 1), "302"),  # back through one link
        "landing, plain": (plain, landings(browser, REFERRERS), "302"),
        "checkout, referred": (subject, checkouts("ref"), "200"),
        "checkout, not referred": (subject, checkouts("solo"), "200"),
        "checkout, plain": (plain, checkouts("plain"), "200"),
    }
    for app, environs, status in cases.values():  # warm-up: caches, connections, first writes
        _requests(app, environs["w"], status)
    batches = {
        name: _batch(app, environs, status) for name, (app, environs, status) in cases.items()
    }
    times = interleaved(batches, rounds)
    _check_stored(program, rounds, count)

    def row(name: str, case: str, baseline: str, legend: str) -> Row:
        mine, theirs = best(times[case]) * 1e6, best(times[baseline]) * 1e6
        paired = ratio(times[case], times[baseline])
        return Row(name, mine, theirs, "µs", paired, TARGET, legend)

    landing, checkout = "flask: GET /r/<code>", "flask: checkout with @track_conversion"
    specs = [
        (f"{landing} (new visitor)", "landing, new", "landing, plain", LANDING_BASELINE),
        (f"{landing} (same visitor again)", "landing, returning", "landing, plain",
         LANDING_BASELINE),
        (f"{checkout} (referred)", "checkout, referred", "checkout, plain", CHECKOUT_BASELINE),
        (f"{checkout} (not referred)", "checkout, not referred", "checkout, plain",
         CHECKOUT_BASELINE),
    ]  # fmt: skip
    return Report(
        rows=[row(*spec) for spec in specs],
        notes=[
            "flask (in process): each request is one call of the app's WSGI callable on a "
            "prebuilt environ, no test client; the refkit app keeps its data in an SQLite file, "
            "and both shops write orders to their own SQLite file"
        ],
    )


def _environ(
    path: str, headers: dict[str, str], form: dict[str, str] | None = None
) -> WSGIEnvironment:
    method = "GET" if form is None else "POST"
    builder = EnvironBuilder(
        path=path,
        method=method,
        headers=list(headers.items()),
        data=form,
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    try:
        environ: WSGIEnvironment = builder.get_environ()
    finally:
        builder.close()
    return environ


def _checkout(order_id: str, customer: str) -> WSGIEnvironment:
    form = {"order_id": order_id, "customer": customer, "amount": AMOUNT}
    return _environ("/checkout", {"User-Agent": BROWSER_USER_AGENT}, form)


def _call(app: WSGIApplication, environ: WSGIEnvironment) -> str:
    """One request through the WSGI interface; its status line."""
    status = ""

    def start_response(
        line: str, headers: list[tuple[str, str]], exc_info: object = None, /
    ) -> Callable[[bytes], object]:
        nonlocal status
        status = line
        return _ignore

    body = app(environ, start_response)
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return status


def _ignore(data: bytes) -> None:
    """The ``write`` callable of ``start_response`` (Flask never calls it)."""


def _requests(app: WSGIApplication, environs: list[WSGIEnvironment], status: str) -> int:
    for environ in environs:
        line = _call(app, environ)
        if line[:3] != status:
            raise AssertionError(f"{environ['PATH_INFO']} answered {line}, not {status}")
    return len(environs)


def _batch(app: WSGIApplication, environs: dict[str, list[WSGIEnvironment]], status: str) -> Batch:
    def batch(index: int) -> int:
        return _requests(app, environs[str(index)], status)

    return batch


def _referral_cookie(app: Flask, code: str) -> str:
    """The signed referral cookie of a visitor who opened ``code``'s link today, so opening
    it again records nothing."""
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER_USER_AGENT
    client.get(f"/r/{code}")
    cookie = client.get_cookie(_state(app).settings.cookie_name)
    if cookie is None:
        raise AssertionError("refkit's landing set no referral cookie")
    return cookie.value


def _check_stored(program: ReferralProgram, rounds: int, count: int) -> None:
    """Every timed checkout stored its conversion, with two rewards for a referee."""
    for key in ("w", str(rounds - 1)):
        referred = program.conversion(f"o-ref-{key}-{count - 1}")
        if referred is None or len(referred.rewards) != 2:
            raise AssertionError(f"a referee's checkout stored {referred}, not two rewards")
        solo = program.conversion(f"o-solo-{key}-{count - 1}")
        if solo is None or solo.rewards:
            raise AssertionError(f"a checkout nobody referred stored {solo}")


# -- under load: gunicorn and wrk on loopback -----------------------------------------------

_CHECKOUT_SCRIPT = """\
-- POST /checkout, a new order and customer on every request: "<tag>-<thread>-<n>".
-- After "--": the run's tag, and a referral code typed at checkout ("" for none).
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  prefix = args[1] .. "-" .. thread_number .. "-"
  code = args[2] or ""
  counter = 0
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  local body = "order_id=o-" .. id .. "&customer=c-" .. id .. "&amount=AMOUNT"
  if code ~= "" then
    body = body .. "&code=" .. code
  end
  return wrk.format("POST", nil, headers, body)
end
""".replace("AMOUNT", AMOUNT)


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reports."""

    requests_per_second: float
    p99_ms: float
    requests: int
    non_2xx_3xx: int
    socket_errors: int


#: What the load test drives, and how its lines name them.
PARTS = ("landing", "referred", "joined", "not referred")
_TITLES = {
    "landing": "GET /r/<code> (new visitor)",
    "referred": "POST /checkout (referred: a guest typing a code)",
    "joined": "POST /checkout (referred, one transaction with the shop's order: "
    "Flask-SQLAlchemy, store=db.engine, session=db.session)",
    "not referred": "POST /checkout (not referred)",
}
_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def parse_wrk(output: str) -> WrkResult:
    """Requests/sec, the 99% latency, and the error counts of ``wrk --latency``'s output.

    :raises ValueError: the output lacks the requests/sec or the latency distribution.
    """
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
    total = re.search(r"^\s*(\d+) requests in ", output, re.MULTILINE)
    if rate is None or p99 is None or total is None:
        raise ValueError(f"not the output of wrk --latency: {output[:500]!r}")
    status = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkResult(
        requests_per_second=float(rate[1]),
        p99_ms=float(p99[1]) * _UNITS_MS[p99[2]],
        requests=int(total[1]),
        non_2xx_3xx=int(status[1]) if status else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def missing_tools() -> str | None:
    """Why the load test cannot run here (and how to fix it), or ``None``."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append("wrk (apt-get install wrk)")
    if importlib.util.find_spec("gunicorn") is None:
        missing.append("gunicorn (pip install -e '.[bench]')")
    if not missing:
        return None
    return f"flask load test skipped: it needs {' and '.join(missing)}"


def run_load(sizes: LoadSizes = LOAD_FULL, parts: Sequence[str] = PARTS) -> Report:
    """Each shop under gunicorn, driven by wrk: requests per second and p99 latency of each
    of ``parts`` (some of :data:`PARTS`), and the stored checkouts checked."""
    problem = missing_tools()
    if problem is not None:
        return Report(notes=[problem])
    if not parts or not set(parts) <= set(PARTS):
        raise ValueError(f"parts must be some of {PARTS}, not {parts!r}")
    with tempfile.TemporaryDirectory(prefix="refkit-bench-load-") as name:
        return _run_load(Path(name), sizes, parts)


def _run_load(directory: Path, sizes: LoadSizes, parts: Sequence[str]) -> Report:
    # Create every file (and switch it to WAL) before the workers open them together.
    program = ReferralProgram(SECRET, refkit_database(directory), RULES)
    try:
        program.create_all()
        code = program.code_for("referrer-0")
    finally:
        program.store.close()
    for kind in ("refkit", "plain"):
        Orders(shop_database(directory, kind)).close()
    joined_code = _joined_setup(directory) if "joined" in parts else ""
    script = directory / "checkout.lua"
    script.write_text(_CHECKOUT_SCRIPT)
    # What wrk requests: a path, the Lua script, and its arguments (the tag of the order
    # ids, and the code typed at checkout; the plain shop ignores the code).
    requests: dict[str, tuple[str, Path | None, tuple[str, ...]]] = {
        "landing": (f"/r/{code}", None, ()),
        "referred": ("/checkout", script, ("ref", code)),
        "joined": ("/checkout", script, ("joi", joined_code)),
        "not referred": ("/checkout", script, ("solo", "")),
    }
    results: dict[tuple[str, str], WrkResult] = {}
    kinds = ("refkit", "plain", "joined") if "joined" in parts else ("refkit", "plain")
    with _servers(kinds, directory, sizes) as urls:
        # Each part on both shops back to back, which of them first alternating, so a
        # busy stretch of this machine falls on both.
        for index, part in enumerate(parts):
            path, lua, args = requests[part]
            subject = "joined" if part == "joined" else "refkit"
            for kind in (subject, "plain")[:: 1 if index % 2 == 0 else -1]:
                tagged = (f"{kind}-{args[0]}", *args[1:]) if args else ()
                results["plain" if kind == "plain" else "refkit", part] = _drive(
                    urls[kind] + path, sizes, lua, tagged
                )
    version = importlib.metadata.version("gunicorn")
    warmup = f" after a {sizes.warmup} s warm-up" if sizes.warmup else ""
    lines = [
        PgLine(
            f"load: gunicorn {version}, {sizes.workers} sync workers; wrk {sizes.threads} "
            f"threads, {sizes.connections} connections, {sizes.duration} s{warmup}; loopback, "
            f"wrk and the servers on the same {os.cpu_count() or '?'} CPUs"
        )
    ]
    for part in parts:
        subject, plain = results["refkit", part], results["plain", part]
        text = (
            f"load, {_TITLES[part]}: refkit {_figures(subject)}; plain Flask {_figures(plain)}; "
            f"errors (non-2xx/3xx + socket): {_errors(subject)} / {_errors(plain)}"
        )
        lines.append(PgLine(text, ok=_errors(subject) == 0 and _errors(plain) == 0))
    for part in parts:
        if part != "landing":
            subject = "joined" if part == "joined" else "refkit"
            lines.append(_stored(directory, part, f"{subject}-{requests[part][2][0]}"))
    return Report(lines=lines)


def _joined_setup(directory: Path) -> str:
    """The joined shop's one file, in WAL, with its orders and refkit's tables (created
    before the workers open it); the code its guests type."""
    with closing(sqlite3.connect(joined_database(directory))) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
    program = ReferralProgram(SECRET, f"sqlite:///{joined_database(directory)}", RULES)
    try:
        program.create_all()
        code = program.code_for("referrer-0")
    finally:
        program.store.close()
    app = joined_app(directory)  # creates the orders table
    with app.app_context():
        app.extensions["bench_db"].engine.dispose()
    return code


def _figures(result: WrkResult) -> str:
    return f"{result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.1f} ms"


def _errors(result: WrkResult) -> int:
    return result.non_2xx_3xx + result.socket_errors


def _drive(url: str, sizes: LoadSizes, script: Path | None, args: tuple[str, ...]) -> WrkResult:
    """A warm-up run (orders tagged ``w``), then the measured one (tagged ``m``)."""
    if sizes.warmup:
        _wrk(url, sizes, sizes.warmup, script, (f"w-{args[0]}", *args[1:]) if args else ())
    return _wrk(url, sizes, sizes.duration, script, (f"m-{args[0]}", *args[1:]) if args else ())


def _wrk(
    url: str, sizes: LoadSizes, seconds: int, script: Path | None, args: tuple[str, ...]
) -> WrkResult:
    command = [
        "wrk",
        f"--threads={sizes.threads}",
        f"--connections={sizes.connections}",
        f"--duration={seconds}s",
        "--timeout=10s",  # slow answers count in the latency, not as socket errors
        "--latency",
        "--header",
        f"User-Agent: {BROWSER_USER_AGENT}",
    ]
    if script is not None:
        command += ["--script", str(script)]
    command += [url, *(["--", *args] if args else [])]
    done = subprocess.run(  # noqa: S603 (our own arguments, no shell)
        command, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return parse_wrk(done.stdout)


def _stored(directory: Path, part: str, tag: str) -> PgLine:
    """The measured checkout run's orders (the shop's file) against refkit's conversions and
    rewards: every order must be converted, with two rewards each for a referred guest."""
    rewards = 0 if part == "not referred" else 2
    pattern = f"o-m-{tag}-%"
    joined = part == "joined"
    shop_file = joined_database(directory) if joined else shop_database(directory, "refkit")
    with closing(sqlite3.connect(shop_file)) as shop:
        orders = _count(shop, "SELECT count(*) FROM orders WHERE order_id LIKE ?", pattern)
    with closing(sqlite3.connect(shop_file if joined else directory / "refkit.db")) as store:
        converted = _count(
            store, "SELECT count(*) FROM refkit_conversions WHERE order_id LIKE ?", pattern
        )
        rewarded = _count(
            store, "SELECT count(*) FROM refkit_rewards WHERE order_id LIKE ?", pattern
        )
    ok = orders == converted and rewarded == rewards * converted and orders > 0
    return PgLine(
        f"load, refkit's checkout ({part}) stored {orders:,} orders, {converted:,} "
        f"conversions, {rewarded:,} rewards" + ("" if ok else f" (expected {rewards} each)"),
        ok=ok,
    )


def _count(connection: sqlite3.Connection, query: str, pattern: str) -> int:
    return int(connection.execute(query, (pattern,)).fetchone()[0])


@contextmanager
def _servers(kinds: Sequence[str], directory: Path, sizes: LoadSizes) -> Iterator[dict[str, str]]:
    """gunicorn serving each shop on a free loopback port, each in its own process group
    (stopped, workers included, on the way out); started together, and yielded (the base URL
    by shop) once a worker of each answers."""
    with ExitStack() as stack:
        started = []
        for kind in kinds:
            port, log = _free_port(), directory / f"gunicorn-{kind}.log"
            server = _start(kind, port, log, directory, sizes)
            stack.callback(_stop, server)
            started.append((kind, server, port, log))
        for _kind, server, port, log in started:
            _wait_ready(server, port, log)
        yield {kind: f"http://127.0.0.1:{port}" for kind, _server, port, _log in started}


def _start(
    kind: str, port: int, log: Path, directory: Path, sizes: LoadSizes
) -> subprocess.Popen[bytes]:
    environ = {
        **os.environ,
        ENV_APP: kind,
        ENV_DIR: str(directory),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        f"--workers={sizes.workers}",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--graceful-timeout=5",
        "--log-level=warning",
        "bench.wsgi_app:from_environ()",
    ]
    with log.open("wb") as output:
        return subprocess.Popen(  # noqa: S603 (our own arguments, no shell)
            command,
            cwd=ROOT,
            env=environ,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_ready(server: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 60) -> None:
    """Poll the port with ``GET /`` until a worker answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}): {_tail(log)}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s: {_tail(log)}")
        time.sleep(0.1)


def _stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the server's process group (master and workers), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        with suppress(ProcessLookupError):
            os.killpg(server.pid, sig)
        try:
            server.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    with suppress(ProcessLookupError):  # a worker outliving its master
        os.killpg(server.pid, signal.SIGKILL)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return "(no log)"
