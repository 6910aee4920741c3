"""Capturing referrals in Flask: ``GET /r/<code>``, ``?ref=`` on any page, the signed cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

import refkit
from refkit_flask import signals

from .support.shop import (
    browser,
    code_of,
    cookie_payload,
    set_cookie_header,
    visits,
)

# -- the landing route -----------------------------------------------------------------------


def test_landing_records_a_visit_and_redirects_home(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    response = client.get(f"/r/{alice_code}")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert visits(app, "alice") == 1
    assert cookie_payload(app, client)["code"] == alice_code  # type: ignore[index]


def test_landing_accepts_the_code_in_any_case_and_with_separators(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    typed = f"{alice_code[:4]}-{alice_code[4:]}".lower()
    client.get(f"/r/{typed}")
    assert visits(app, "alice") == 1
    assert cookie_payload(app, client)["code"] == alice_code  # type: ignore[index]


def test_referral_cookie_is_httponly_lax_path_root_with_max_age(
    client: FlaskClient, alice_code: str
) -> None:
    header = set_cookie_header(client.get(f"/r/{alice_code}"))
    assert header.startswith("refkit_referral=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert "Path=/" in header
    assert f"Max-Age={30 * 24 * 3600}" in header
    assert "Secure" not in header


def test_referral_cookie_is_secure_over_https(client: FlaskClient, alice_code: str) -> None:
    response = client.get(f"/r/{alice_code}", base_url="https://localhost")
    assert "Secure" in set_cookie_header(response)


def test_landing_redirects_to_a_local_next(client: FlaskClient, alice_code: str) -> None:
    response = client.get(f"/r/{alice_code}", query_string={"next": "/shoes/42?size=40#top"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/shoes/42?size=40#top"


UNSAFE_NEXT = [
    "//evil.com",
    "/\\evil.com",
    "\\\\evil.com",
    "https://evil.com",
    "javascript:alert(1)",
    "/ok\r\nSet-Cookie: x=y",
    "/\t/evil.com",
    "/\x00evil",
    "evil.com",
    "/" + "a" * 5000,
]


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_unsafe_next_falls_back_to_the_landing_redirect(
    client: FlaskClient, alice_code: str, target: str
) -> None:
    response = client.get(f"/r/{alice_code}", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert client.get_cookie("x") is None


@pytest.mark.parametrize("target", UNSAFE_NEXT)
def test_unsafe_next_with_an_invalid_code_falls_back_too(client: FlaskClient, target: str) -> None:
    response = client.get("/r/NOTACODE", query_string={"next": target})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_percent_encoded_crlf_in_next_injects_no_header(
    client: FlaskClient, alice_code: str
) -> None:
    response = client.get(f"/r/{alice_code}", query_string={"next": "/%0d%0aX: y"})
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/")
    assert "X" not in response.headers
    assert "\r" not in response.headers["Location"]
    assert "\n" not in response.headers["Location"]


@pytest.mark.parametrize("code", ["NOTACODE", "K7WQ9XMP3RDA", "x" * 500, "%00", "'; drop"])
def test_invalid_code_redirects_sets_no_cookie_records_no_visit(
    app: Flask, client: FlaskClient, alice_code: str, code: str
) -> None:
    response = client.get(f"/r/{code}", query_string={"next": "/shoes"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/shoes"
    assert "Set-Cookie" not in response.headers
    assert program_visits(app) == 0


def test_head_request_records_nothing_and_sets_no_cookie(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    response = client.head(f"/r/{alice_code}")
    assert response.status_code == 302
    assert "Set-Cookie" not in response.headers
    assert visits(app, "alice") == 0


BOTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Twitterbot/1.0",
    "WhatsApp/2.23.20.0 A",
    "",
]


@pytest.mark.parametrize("user_agent", BOTS)
def test_bots_record_nothing_and_get_no_cookie(
    app: Flask, client: FlaskClient, alice_code: str, user_agent: str
) -> None:
    client.environ_base["HTTP_USER_AGENT"] = user_agent
    landing = client.get(f"/r/{alice_code}")
    page = client.get("/", query_string={"ref": alice_code})
    assert landing.status_code == 302
    assert page.status_code == 200
    assert "Set-Cookie" not in landing.headers
    assert "Set-Cookie" not in page.headers
    assert visits(app, "alice") == 0


def test_missing_user_agent_counts_as_a_bot(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    del client.environ_base["HTTP_USER_AGENT"]
    response = client.get(f"/r/{alice_code}")
    assert "Set-Cookie" not in response.headers
    assert visits(app, "alice") == 0


# -- visits ------------------------------------------------------------------------------------


def test_one_visit_per_visitor_code_and_day(
    app: Flask, client: FlaskClient, alice_code: str, clock: refkit.FrozenClock
) -> None:
    client.get(f"/r/{alice_code}")
    client.get(f"/r/{alice_code}")
    client.get("/", query_string={"ref": alice_code})
    assert visits(app, "alice") == 1
    clock.advance(days=1)
    client.get(f"/r/{alice_code}")
    assert visits(app, "alice") == 2


def test_an_unchanged_cookie_is_not_signed_again(
    app: Flask, client: FlaskClient, alice_code: str, clock: refkit.FrozenClock
) -> None:
    first = client.get(f"/r/{alice_code}")
    assert "Set-Cookie" in first.headers
    payload = cookie_payload(app, client)
    clock.advance(hours=1)
    again = client.get(f"/r/{alice_code}")
    assert "Set-Cookie" not in again.headers  # same code, same day: nothing to write
    assert cookie_payload(app, client) == payload
    clock.advance(days=1)
    assert "Set-Cookie" in client.get(f"/r/{alice_code}").headers  # a new day is remembered
    assert cookie_payload(app, client)["at"] == payload["at"]  # type: ignore[index]


def test_two_visitors_make_two_visits(app: Flask, alice_code: str) -> None:
    browser(app).get(f"/r/{alice_code}")
    browser(app).get(f"/r/{alice_code}")
    assert visits(app, "alice") == 2


def test_campaign_is_recorded_with_the_visit(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    client.get(f"/r/{alice_code}", query_string={"campaign": "spring"})
    program = app.extensions["refkit"].program
    assert program.summary(campaign="spring").visits == 1
    assert program.summary(campaign="autumn").visits == 0


# -- ?ref= on any page -------------------------------------------------------------------------


def test_ref_query_param_on_any_page_captures(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    response = client.get("/", query_string={"ref": alice_code})
    assert response.status_code == 200
    assert response.text == "home"
    assert "HttpOnly" in set_cookie_header(response)
    assert visits(app, "alice") == 1
    assert cookie_payload(app, client)["code"] == alice_code  # type: ignore[index]


def test_invalid_ref_query_param_is_ignored(app: Flask, client: FlaskClient) -> None:
    response = client.get("/", query_string={"ref": "NOTACODE"})
    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert program_visits(app) == 0


def test_ref_query_param_capture_binds_the_signup(client: FlaskClient, alice_code: str) -> None:
    client.get("/", query_string={"ref": alice_code})
    response = client.post("/signup", data={"user": "carol"})
    assert response.json == {"referrer": "alice"}


# -- first touch, tampering, expiry ------------------------------------------------------------


def test_first_touch_wins_but_later_codes_still_count_visits(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    bob_code = code_of(app, "bob")
    client.get(f"/r/{alice_code}")
    client.get(f"/r/{bob_code}")
    client.get("/", query_string={"ref": bob_code})
    assert cookie_payload(app, client)["code"] == alice_code  # type: ignore[index]
    assert visits(app, "bob") == 1
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": "alice"}


def test_tampered_cookie_is_ignored(app: Flask, client: FlaskClient, alice_code: str) -> None:
    client.get(f"/r/{alice_code}")
    value = client.get_cookie("refkit_referral").value  # type: ignore[union-attr]
    client.set_cookie("refkit_referral", value[:-3] + ("aaa" if value[-3:] != "aaa" else "bbb"))
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": None}
    bob_code = code_of(app, "bob")
    client.get(f"/r/{bob_code}")
    assert cookie_payload(app, client)["code"] == bob_code  # type: ignore[index]


def test_forged_cookie_from_another_key_is_ignored(app: Flask, client: FlaskClient) -> None:
    forged = refkit.TokenSigner("another-secret-key-0123456789abcdefghij", "referral-cookie")
    client.set_cookie("refkit_referral", forged.dumps({"code": code_of(app, "alice")}))
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": None}


def test_expired_cookie_is_ignored(
    app: Flask, client: FlaskClient, alice_code: str, clock: refkit.FrozenClock
) -> None:
    client.get(f"/r/{alice_code}")
    clock.advance(days=30, seconds=1)
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": None}
    bob_code = code_of(app, "bob")
    client.get(f"/r/{bob_code}")
    assert cookie_payload(app, client)["code"] == bob_code  # type: ignore[index]


def test_cookie_still_valid_just_inside_the_max_age(
    client: FlaskClient, alice_code: str, clock: refkit.FrozenClock
) -> None:
    client.get(f"/r/{alice_code}")
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": "alice"}


def test_capture_sends_the_referral_captured_signal(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    received: list[tuple[object, object]] = []

    def receiver(sender: object, record: object) -> None:
        received.append((sender, record))

    with signals.referral_captured.connected_to(receiver):
        client.get(f"/r/{alice_code.lower()}")
        client.get("/r/NOTACODE")
    assert received == [(app, alice_code)]


def program_visits(app: Flask) -> int:
    visits_total: int = app.extensions["refkit"].program.summary().visits
    return visits_total


def test_the_attribution_window_runs_from_the_first_touch(app: Flask, clock) -> None:
    """Re-visiting re-signs the cookie, but the first code still expires on time."""
    client = app.test_client()
    with app.app_context():
        first = app.extensions["refkit"].program.code_for("alice")
        second = app.extensions["refkit"].program.code_for("bob")
    max_age = app.extensions["refkit"].settings.cookie_max_age
    client.get(f"/r/{first}", headers={"User-Agent": "Mozilla/5.0"})
    clock.advance(max_age - timedelta(days=1))
    client.get(f"/r/{second}", headers={"User-Agent": "Mozilla/5.0"})
    assert cookie_payload(app, client)["code"] == first  # type: ignore[index]
    clock.advance(days=2)
    client.get("/", headers={"User-Agent": "Mozilla/5.0"})
    with app.test_request_context(headers={"Cookie": _cookie_header(app, client)}):
        assert app.extensions["refkit"].extension.captured_code() is None


def test_the_cookie_stays_small_however_many_codes_a_visitor_opens(app: Flask) -> None:
    client = app.test_client()
    with app.app_context():
        program = app.extensions["refkit"].program
        codes = [program.code_for(f"user-{i}") for i in range(60)]
    for code in codes:
        client.get(f"/r/{code}", headers={"User-Agent": "Mozilla/5.0"})
    cookie = client.get_cookie(app.config["REFKIT_COOKIE_NAME"])
    assert cookie is not None
    assert len(cookie.value) < 3000
    assert cookie_payload(app, client)["code"] == codes[0]  # type: ignore[index]


def _cookie_header(app: Flask, client) -> str:  # type: ignore[no-untyped-def]
    name = app.config["REFKIT_COOKIE_NAME"]
    return f"{name}={client.get_cookie(name).value}"
