"""Helpers for a shop's own tests of its refkit integration (pytest or unittest).

::

    from refkit_flask.testing import captured_code, referral_client

    def test_signup_through_a_link_binds_the_referrer(app):
        client = referral_client(app, referrer_id="alice")
        client.post("/register", data={"email": "bob@example.com"})
        with app.app_context():
            assert app.extensions["refkit"].program.referral_for("bob").referrer_id == "alice"
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from refkit import FrozenClock, InvalidToken, system_clock
from refkit.validation import to_aware

from .cookie import cookie_signer
from .state import get_state

__all__ = [
    "BROWSER_USER_AGENT",
    "arrive_with_code",
    "captured_code",
    "frozen_program_clock",
    "referral_client",
]

#: A desktop browser's User-Agent: visits from clients without one (or from bots) are not counted.
BROWSER_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)


def arrive_with_code(
    client: FlaskClient, code: str, next: str = "/", *, campaign: str | None = None
) -> TestResponse:
    """Open the referral link ``/r/<code>`` with ``client``, as a browser would.

    The response is the landing redirect (not followed); the client keeps the referral
    cookie. ::

        response = arrive_with_code(client, "k7wq-9xmp-3rda", next="/pricing")
        assert response.location == "/pricing"

    :param next: the local path the landing redirects to.
    :param campaign: the campaign the link carries, if any.
    """
    settings = get_state(client.application).settings
    query = {"next": next}
    if campaign is not None:
        query[settings.campaign_param] = campaign
    return client.get(
        f"{settings.landing_path}/{code}",
        query_string=query,
        headers={"User-Agent": BROWSER_USER_AGENT},
    )


def referral_client(
    app: Flask, referrer_id: str | int, *, campaign: str | None = None, next: str = "/"
) -> FlaskClient:
    """A test client that has arrived through ``referrer_id``'s share link.

    Its requests carry a browser User-Agent, and it holds the referral cookie, so the next
    signup or checkout is attributed to ``referrer_id``. ::

        client = referral_client(app, "alice", campaign="newsletter")
        assert captured_code(client) == code_of_alice

    :raises AssertionError: the landing did not capture the code (refkit not set up right).
    """
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER_USER_AGENT
    with app.app_context():
        code = get_state(app).program.code_for(referrer_id)
    arrive_with_code(client, code, next, campaign=campaign)
    if captured_code(client, app) is None:
        raise AssertionError(f"the link of {referrer_id!r} set no referral cookie")
    return client


def captured_code(client: FlaskClient, app: Flask | None = None) -> str | None:
    """The referral code in ``client``'s signed referral cookie, or ``None``. ::

        arrive_with_code(client, code)
        assert captured_code(client) == code

    :param app: the app (default: the client's own).
    """
    state = get_state(app or client.application)
    cookie = client.get_cookie(state.settings.cookie_name)
    if cookie is None:
        return None
    try:
        payload = state.cookies.loads(cookie.value)
    except InvalidToken:
        return None
    code = payload.get("code") if isinstance(payload, dict) else None
    return code if isinstance(code, str) else None


@contextmanager
def frozen_program_clock(app: Flask, start: datetime | None = None) -> Iterator[FrozenClock]:
    """Freeze the app's program clock (and the referral cookie's) for the ``with`` block.

    Time moves only with :meth:`FrozenClock.advance <refkit.FrozenClock.advance>`, so hold
    periods, attribution windows and cookie ages can be tested without sleeping. ::

        with frozen_program_clock(app) as clock:
            ...                              # a referred customer buys
            clock.advance(days=15)           # the hold period is over
            runner = app.test_cli_runner()
            assert "approved 1 reward" in runner.invoke(args=["refkit", "approve"]).output

    :param start: an aware datetime to start from (default: now).
    :raises refkit.ValidationError: ``start`` is a naive datetime.
    """
    state = get_state(app)
    program = state.program
    previous, cookies = program.clock, state.cookies
    clock = FrozenClock(system_clock() if start is None else to_aware(start, "start"))
    program.clock = clock
    state.cookies = cookie_signer(state.settings, clock)
    try:
        yield clock
    finally:
        program.clock, state.cookies = previous, cookies
