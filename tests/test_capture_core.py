"""refkit.capture: the framework-agnostic decision every web integration shares."""

from __future__ import annotations

import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

import refkit
from refkit.capture import (
    DEFAULT_BOT_USER_AGENTS,
    Landing,
    ReferralCookie,
    capture,
    click_fingerprint,
    is_bot,
)
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


_CASE_INSENSITIVE = re.compile(DEFAULT_BOT_USER_AGENTS, re.IGNORECASE)
_USER_AGENTS = [
    BROWSER,
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "WhatsApp/2.23.20.0",
    "facebookExternalHit/1.1",
    "Mozilla/5.0 HeadlessChrome/120.0",
    "CURL/8.4.0",
    "python-requests/2.31",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 Robotics-Lab-Browser",  # "bot" inside a word: not a bot by the pattern
    "Mozilla/5.0 Bot",
    "Mozilla/5.0 (Ünïcödé; \u212aURL/1.0) Sp\u0131der",  # non-ASCII: the case-insensitive search
    "\u017fpider/1.0",
]


def test_is_bot_answers_as_the_case_insensitive_default_pattern() -> None:
    for user_agent in _USER_AGENTS:
        assert is_bot(user_agent) == bool(_CASE_INSENSITIVE.search(user_agent)), user_agent
        assert is_bot(user_agent, _CASE_INSENSITIVE) == is_bot(user_agent), user_agent
    assert is_bot("Mozilla/5.0 (compatible; Googlebot/2.1)")
    assert not is_bot(BROWSER)
    assert is_bot(None)
    assert is_bot("")
    assert not is_bot("Googlebot", None)
    assert is_bot("Internal-Monitor", re.compile("internal-monitor", re.IGNORECASE))
    assert not is_bot("Internal-Monitor", re.compile("internal-monitor"))


@given(st.text(max_size=80) | st.sampled_from(_USER_AGENTS).map(str.swapcase))
def test_is_bot_agrees_with_the_pattern_on_any_text(user_agent: str) -> None:
    assert is_bot(user_agent) == (not user_agent or bool(_CASE_INSENSITIVE.search(user_agent)))
