"""refkit_django: ``?ref=``, ``/r/<code>`` and the signed first-touch cookie, on every store."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import refkit
from tests.support.shop import BROWSER

pytestmark = pytest.mark.usefixtures("django_environment")
Configure = Callable[..., refkit.ReferralProgram]
COOKIE = "refkit_referral"


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_USER_AGENT=BROWSER)


def test_ref_on_any_page_counts_a_visit_and_sets_the_signed_cookie(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    code = program.code_for("alice")
    friend = _client()
    page = friend.get("/", {"ref": code.lower(), "campaign": "spring"})
    assert page.status_code == 200
    cookie = friend.cookies[COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["max-age"] == int(timedelta(days=30).total_seconds())
    assert program.stats_for("alice").visits == 1
    friend.get("/", {"ref": code})  # the same visitor again today: no second visit
    assert program.stats_for("alice").visits == 1
    from refkit_django.conf import get_state

    payload = get_state().cookie.load(friend.cookies[COOKIE].value)
    assert payload is not None
    assert payload["code"] == code
    assert payload["campaign"] == "spring"
    assert refkit.capture.click_fingerprint(payload) is not None  # the click's fingerprint


def test_head_requests_and_bots_count_no_visit_and_set_no_cookie(django_refkit: Configure) -> None:
    from django.test import Client

    program = django_refkit()
    code = program.code_for("alice")
    bot = Client(HTTP_USER_AGENT="facebookexternalhit/1.1")
    bot.get("/", {"ref": code})
    head = _client()
    head.head("/", {"ref": code})
    assert COOKIE not in bot.cookies
    assert COOKIE not in head.cookies
    assert program.stats_for("alice").visits == 0


def test_an_invalid_code_sets_nothing(django_refkit: Configure) -> None:
    django_refkit()
    stranger = _client()
    assert stranger.get("/", {"ref": "not-a-code"}).status_code == 200
    assert COOKIE not in stranger.cookies
    landing = stranger.get("/r/not-a-code")
    assert landing.status_code == 302
    assert COOKIE not in stranger.cookies


def test_first_touch_wins_but_an_invalid_cookie_does_not_block_a_new_capture(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    alice, bob = program.code_for("alice"), program.code_for("bob")
    friend = _client()
    friend.get("/", {"ref": alice})
    friend.get("/", {"ref": bob})
    assert _kept_code(friend) == alice
    tampered = _client()
    tampered.cookies[COOKIE] = "forged.value"  # present but not valid: the example's hole
    tampered.get("/", {"ref": bob})
    assert _kept_code(tampered) == bob


def _kept_code(client: Any) -> str | None:
    from refkit_django.conf import get_state

    payload = get_state().cookie.load(client.cookies[COOKIE].value)
    return None if payload is None else str(payload["code"])


def test_the_landing_route_captures_and_redirects_only_to_local_paths(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    code = program.code_for("alice")
    friend = _client()
    landing = friend.get(f"/r/{code}", {"next": "/page?x=1"})
    assert landing.status_code == 302
    assert landing["Location"] == "/page?x=1"
    assert program.stats_for("alice").visits == 1
    assert _kept_code(friend) == code
    away = _client().get(f"/r/{code}", {"next": "https://evil.example/"})
    assert away["Location"] == "/"
    assert _client().get(f"/r/{code}", {"next": "//evil.example"})["Location"] == "/"


def test_the_cookie_lasts_the_attribution_window_from_the_first_touch(
    django_refkit: Configure, clock: refkit.FrozenClock
) -> None:
    rules = refkit.RewardRules(attribution_window=timedelta(days=7))
    program = django_refkit(RULES=rules)
    friend = _client()
    friend.get("/", {"ref": program.code_for("alice")})
    assert friend.cookies[COOKIE]["max-age"] == 7 * 24 * 3600
    clock.advance(timedelta(days=8))
    assert _kept_code(friend) is None


def test_a_capture_sends_the_signal(django_refkit: Configure) -> None:
    from refkit_django import signals

    program = django_refkit()
    seen: list[object] = []

    def receiver(sender: object, record: object, **kwargs: object) -> None:
        seen.append(record)

    signals.referral_captured.connect(receiver)
    try:
        _client().get("/", {"ref": program.code_for("alice")})
    finally:
        signals.referral_captured.disconnect(receiver)
    assert seen == [program.code_for("alice")]
