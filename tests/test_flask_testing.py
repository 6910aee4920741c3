"""``refkit_flask.testing``: the helpers shops use to test their own integration."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask, request

import refkit
from refkit_flask.testing import (
    BROWSER_USER_AGENT,
    arrive_with_code,
    captured_code,
    frozen_program_clock,
    referral_client,
)

from .support.api_shop import program_of, running_shop


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """A shop whose program runs on the real clock, like most shops' test apps."""
    with running_shop(tmp_path, refkit.system_clock) as app:
        yield app


@pytest.fixture
def program(app: Flask) -> refkit.ReferralProgram:
    return program_of(app)


# -- referral_client -----------------------------------------------------------------------


def test_referral_client_holds_the_referrers_code_and_counted_a_visit(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    client = referral_client(app, "alice")
    assert captured_code(client) == program.code_for("alice")
    assert program.stats_for("alice").visits == 1


def test_referral_client_signup_is_attributed_to_the_referrer(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    client = referral_client(app, "alice")
    assert client.post("/register", data={"user_id": "bob"}).status_code == 200
    referral = program.referral_for("bob")
    assert referral is not None
    assert referral.referrer_id == "alice"


def test_referral_client_sends_a_browser_user_agent(app: Flask) -> None:
    seen: list[str | None] = []

    @app.get("/ua")
    def user_agent() -> str:
        seen.append(request.headers.get("User-Agent"))
        return ""

    referral_client(app, "alice").get("/ua")
    assert seen == [BROWSER_USER_AGENT]


def test_referral_client_campaign_is_recorded(app: Flask, program: refkit.ReferralProgram) -> None:
    referral_client(app, 42, campaign="newsletter")
    assert program.summary(campaign="newsletter").visits == 1
    assert program.summary(campaign="other").visits == 0


# -- arrive_with_code and captured_code ----------------------------------------------------


def test_arrive_with_code_redirects_to_next_and_keeps_the_cookie(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    client = app.test_client()
    code = program.code_for("alice")
    response = arrive_with_code(client, code.lower(), next="/pricing?plan=pro")
    assert response.status_code == 302
    assert response.location == "/pricing?plan=pro"
    assert captured_code(client, app) == code


def test_arrive_with_an_invalid_code_captures_nothing(app: Flask) -> None:
    client = app.test_client()
    response = arrive_with_code(client, "not-a-code")
    assert response.location == "/"
    assert captured_code(client) is None


def test_captured_code_is_none_for_a_fresh_or_tampered_cookie(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    client = app.test_client()
    assert captured_code(client) is None
    client.set_cookie("refkit_referral", "forged.cookie.value")
    assert captured_code(client) is None


def test_first_touch_wins_for_a_client_that_follows_a_second_link(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    client = referral_client(app, "alice")
    arrive_with_code(client, program.code_for("dave"))
    assert captured_code(client) == program.code_for("alice")


# -- frozen_program_clock ------------------------------------------------------------------


def test_frozen_program_clock_stops_time_and_restores_the_clock(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    start = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    with frozen_program_clock(app, start) as clock:
        assert program.clock() == start
        clock.advance(days=2)
        assert program.clock() == start + timedelta(days=2)
    assert program.clock is refkit.system_clock


def test_frozen_program_clock_lets_a_test_pass_the_hold_period(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    with frozen_program_clock(app) as clock:
        client = referral_client(app, "alice")
        client.post("/register", data={"user_id": "bob"})
        clock.advance(minutes=5)  # not a fast purchase, which would be held for review
        program.record_conversion("o-1", "bob", Decimal("100"), "EUR")
        result = app.test_cli_runner().invoke(args=["refkit", "approve"])
        assert result.stdout.strip() == "approved 0 rewards"
        clock.advance(days=15)
        result = app.test_cli_runner().invoke(args=["refkit", "approve"])
        assert result.stdout.strip() == "approved 2 rewards"


def test_frozen_program_clock_ages_the_referral_cookie(
    app: Flask, program: refkit.ReferralProgram
) -> None:
    with frozen_program_clock(app) as clock:
        client = referral_client(app, "alice")
        clock.advance(days=29)
        assert captured_code(client) == program.code_for("alice")
        clock.advance(days=2)  # past the 30-day attribution window
        assert captured_code(client) is None


def test_frozen_program_clock_refuses_a_naive_start(app: Flask) -> None:
    with (
        pytest.raises(refkit.ValidationError, match="naive"),
        frozen_program_clock(app, datetime(2026, 1, 1)),
    ):
        pass


def test_helpers_say_when_refkit_is_not_set_up() -> None:
    bare = Flask(__name__)
    with pytest.raises(RuntimeError, match="RefKit"):
        captured_code(bare.test_client())
