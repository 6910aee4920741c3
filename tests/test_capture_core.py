"""refkit.capture: the framework-agnostic decision every web integration shares."""

from __future__ import annotations

from datetime import timedelta

import refkit
from refkit.capture import Landing, ReferralCookie, capture, click_fingerprint
from tests.support.settings import SECRET

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def _visits(program: refkit.ReferralProgram, user: str) -> int:
    return program.stats_for(user).visits


def test_a_valid_code_counts_a_visit_and_keeps_the_first_touch(
    program: refkit.ReferralProgram,
) -> None:
    code = program.code_for("alice")
    landing = Landing(code.lower(), user_agent=BROWSER, ip="192.0.2.1", args={"campaign": "spring"})
    captured = capture(program, landing, None)
    assert captured.valid
    assert captured.recorded
    assert captured.visitor
    assert captured.payload is not None
    assert captured.payload["code"] == code
    assert captured.payload["campaign"] == "spring"
    assert captured.payload["at"] == program.clock().isoformat()
    click = click_fingerprint(captured.payload)
    assert click is not None
    assert click.ip
    assert click.user_agent
    assert "192.0.2.1" not in str(captured.payload)  # only keyed hashes
    assert _visits(program, "alice") == 1


def test_the_same_code_again_today_counts_no_second_visit(
    program: refkit.ReferralProgram,
) -> None:
    code = program.code_for("alice")
    first = capture(program, Landing(code, user_agent=BROWSER), None)
    again = capture(program, Landing(code, user_agent=BROWSER), first.payload)
    assert again.valid
    assert not again.recorded
    assert again.payload is None
    assert _visits(program, "alice") == 1


def test_head_requests_and_bots_count_nothing_and_set_nothing(
    program: refkit.ReferralProgram,
) -> None:
    code = program.code_for("alice")
    for landing in (
        Landing(code, method="HEAD", user_agent=BROWSER),
        Landing(code, user_agent="Slackbot-LinkExpanding 1.0"),
        Landing(code, user_agent=None),
    ):
        captured = capture(program, landing, None)
        assert captured.valid
        assert not captured.visitor
        assert captured.payload is None
    assert _visits(program, "alice") == 0


def test_an_invalid_code_captures_nothing(program: refkit.ReferralProgram) -> None:
    captured = capture(program, Landing("NOT-A-CODE", user_agent=BROWSER), None)
    assert not captured.valid
    assert captured.payload is None
    assert not captured.recorded


def test_first_touch_wins_while_its_code_resolves(program: refkit.ReferralProgram) -> None:
    alice, bob = program.code_for("alice"), program.code_for("bob")
    first = capture(program, Landing(alice, user_agent=BROWSER), None)
    second = capture(program, Landing(bob, user_agent=BROWSER), first.payload)
    assert second.payload is not None
    assert second.payload["code"] == alice
    program.revoke_code("alice")  # the kept code no longer resolves: the next one replaces it
    third = capture(program, Landing(bob, user_agent=BROWSER), second.payload)
    assert third.payload is not None
    assert third.payload["code"] == bob


def test_the_cookie_is_signed_and_lasts_the_window_from_the_first_touch(
    program: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    cookies = ReferralCookie([SECRET], timedelta(days=30), clock)
    captured = capture(program, Landing(program.code_for("alice"), user_agent=BROWSER), None)
    assert captured.payload is not None
    token = cookies.dump(captured.payload)
    assert cookies.load(token) == captured.payload
    assert cookies.load(token[:-2] + "xx") is None  # tampered with
    assert cookies.load(None) is None
    other = ReferralCookie(["another-secret-key-0123456789abcdefghij"], timedelta(days=30), clock)
    assert other.load(token) is None
    clock.advance(timedelta(days=31))
    assert cookies.load(token) is None
