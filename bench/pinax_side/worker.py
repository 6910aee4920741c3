"""The pinax-referrals side of ``bench/pinax.py``: a long-lived worker in its own virtualenv.

Run as ``bench/.venv-pinax/bin/python bench/pinax_side/worker.py DB_PATH`` by the benchmark,
which talks to it one line at a time on stdin/stdout:

``setup ROUNDS N``
    migrate, then make the users of ROUNDS rounds of N (referrers and new sign-ups) and one
    anonymous visitor (a session key) per sign-up; answers ``ready`` and what runs.
``run OP ROUND N``
    do operation OP for the N users of round ROUND; answers the elapsed seconds of the batch,
    timed here so that the pipe's cost is left out. Per round the ops go in order:
    ``link`` (each referrer gets a referral), ``landing`` (each visitor lands on one of
    them), ``http_landing`` (another visitor each opens the link through Django's test
    client), ``signup`` (each visitor of ``landing`` signs up and the sign-up is recorded
    against the referral they landed with).
``check``
    the row counts, to show the work was done.
``quit``

What each op does is what pinax-referrals' own code does for it (``pinax/referrals/models.py``
and ``views.py``), less the HTTP layer; ``bench/pinax.py`` explains the pairing with refkit.
"""

from __future__ import annotations

import gc
import os
import secrets
import sqlite3
import sys
import time
import traceback
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LINK_TARGET = "/signup/"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) bench/1.0"


class Bench:
    """The users and codes of every round, and the three timed operations."""

    def __init__(self) -> None:
        self.referrers: list[list[Any]] = []
        self.newcomers: list[list[Any]] = []
        self.sessions: list[list[str]] = []
        self.codes: dict[int, list[str]] = {}

    def setup(self, rounds: int, size: int) -> str:
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        user_model = get_user_model()
        names = [
            f"{kind}-{r}-{i}" for r in range(rounds) for kind in ("ref", "new") for i in range(size)
        ]
        user_model.objects.bulk_create(
            [user_model(username=name, password="!") for name in names], batch_size=500
        )
        users = {user.username: user for user in user_model.objects.filter(username__in=names)}
        for r in range(rounds):
            self.referrers.append([users[f"ref-{r}-{i}"] for i in range(size)])
            self.newcomers.append([users[f"new-{r}-{i}"] for i in range(size)])
            # Django's session keys are 32 random characters too.
            self.sessions.append([secrets.token_hex(16) for _ in range(size)])
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            journal = cursor.fetchone()[0]
            cursor.execute("PRAGMA synchronous")
            synchronous = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[cursor.fetchone()[0]]
        return (
            f"ready pinax-referrals={version('pinax-referrals')} django={version('django')} "
            f"sqlite={sqlite3.sqlite_version} journal_mode={journal} synchronous={synchronous}"
        )

    # -- the operations ----------------------------------------------------------------------

    def link(self, index: int, size: int) -> float:
        """``Referral.create(redirect_to=..., user=...)`` and its ``url``: what the
        ``create_referral`` view does for a signed-in user (less the JSON and HTML)."""
        from pinax.referrals.models import Referral

        users = self.referrers[index][:size]
        codes: list[str] = []

        def batch() -> None:
            for user in users:
                referral = Referral.create(redirect_to=LINK_TARGET, user=user)
                referral.url  # noqa: B018  (reverse + the cached Site: the link to share)
                codes.append(referral.code)

        elapsed = _timed(batch)
        self.codes[index] = codes
        return elapsed

    def landing(self, index: int, size: int) -> float:
        """The ``process_referral`` view's work: find the referral by code, and if active
        make sure of the session key and record a ``RESPONDED`` response (the visitor's
        session key, IP address, HTTP referrer)."""
        from pinax.referrals.models import Referral
        from pinax.referrals.utils import ensure_session_key

        codes = self.codes[index][:size]
        requests = [
            _request(f"/referrals/{code}/", session, None)
            for code, session in zip(codes, self.sessions[index], strict=False)
        ]

        def batch() -> None:
            for code, request in zip(codes, requests, strict=True):
                referral = Referral.objects.get(code=code)
                if not referral.is_active():
                    raise AssertionError("a new referral is not active")
                ensure_session_key(request)
                referral.respond(request, "RESPONDED")

        return _timed(batch)

    def http_landing(self, index: int, size: int) -> float:
        """A new visitor opens the referral link through Django's test client: the whole
        request (session, auth and pinax's middleware, URL routing, ``process_referral``:
        the lookup, a new session saved, the ``RESPONDED`` response, the redirect and its
        ``pinax-referral`` cookie)."""
        from django.test import Client

        codes = self.codes[index][:size]
        headers = {"HTTP_USER_AGENT": USER_AGENT, "HTTP_REFERER": "https://social.example/1"}
        visits = [(Client(**headers), f"/referrals/{code}/") for code in codes]

        def batch() -> None:
            for client, path in visits:
                response = client.get(path)
                if response.status_code != 302 or "pinax-referral" not in response.cookies:
                    raise AssertionError(f"the landing answered {response.status_code}")

        return _timed(batch)

    def signup(self, index: int, size: int) -> float:
        """``Referral.record_response(request, "SIGN_UP")`` with the new user given: the
        referral found from the visitor's session (their latest response), checked active,
        and a ``SIGN_UP`` response naming the new user."""
        from pinax.referrals.models import Referral

        codes = self.codes[index][:size]
        requests = [
            _request("/signup/", session, f"{code}:{session}")
            for code, session in zip(codes, self.sessions[index], strict=False)
        ]
        users = self.newcomers[index][:size]

        def batch() -> None:
            for user, request in zip(users, requests, strict=True):
                referral = Referral.referral_for_request(request)
                if referral is None or not referral.is_active():
                    raise AssertionError("the visitor's referral was not found")
                referral.respond(request, "SIGN_UP", user=user)

        return _timed(batch)

    def check(self) -> str:
        from django.contrib.sessions.models import Session
        from pinax.referrals.models import Referral, ReferralResponse

        landed = ReferralResponse.objects.filter(action="RESPONDED").count()
        signed = ReferralResponse.objects.filter(action="SIGN_UP", user__isnull=False).count()
        sessions = Session.objects.count()
        return (
            f"referrals={Referral.objects.count()} landings={landed} signups={signed} "
            f"sessions={sessions}"
        )


def _request(path: str, session_key: str, cookie: str | None) -> Any:
    """An anonymous visitor's request, as the session and auth middleware leave it."""
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import RequestFactory

    headers = {"HTTP_REFERER": "https://social.example/post/1", "REMOTE_ADDR": "203.0.113.7"}
    request = RequestFactory().get(path, **headers)
    if cookie is not None:
        request.COOKIES["pinax-referral"] = cookie
    request.session = SessionStore(session_key=session_key)
    request.user = AnonymousUser()
    return request


def _timed(batch: Callable[[], None]) -> float:
    """The batch's seconds, after a full collection (as ``bench.harness`` does)."""
    gc.collect()
    start = time.perf_counter()
    batch()
    return time.perf_counter() - start


def _sqlite_settings(sender: Any, connection: Any, **kwargs: Any) -> None:
    """refkit's SQLite settings (``refkit/storage/engines.py``) on every new connection."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: worker.py DB_PATH", file=sys.stderr)
        return 2
    os.environ["PINAX_BENCH_DB"] = sys.argv[1]
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    sys.path.insert(0, str(HERE))
    import django
    from django.db.backends.signals import connection_created

    django.setup()
    connection_created.connect(_sqlite_settings)
    bench = Bench()
    ops: dict[str, Callable[[int, int], float]] = {
        "link": bench.link,
        "landing": bench.landing,
        "http_landing": bench.http_landing,
        "signup": bench.signup,
    }
    for line in sys.stdin:
        words = line.split()
        try:
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "setup":
                answer = bench.setup(int(words[1]), int(words[2]))
            elif words[0] == "run":
                answer = repr(ops[words[1]](int(words[2]), int(words[3])))
            elif words[0] == "check":
                answer = bench.check()
            else:
                answer = f"error unknown command {words[0]!r}"
        except Exception as error:
            traceback.print_exc(file=sys.stderr)
            answer = f"error {type(error).__name__}: {error}".replace("\n", " ")
        sys.stdout.write(answer + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
