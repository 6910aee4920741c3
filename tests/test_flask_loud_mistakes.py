"""Issue 16: a newcomer's mistakes are loud (unknown options, short keys, bad amounts in a view)
while storage failures still never break a checkout, and the dashboard counts what failed."""

from __future__ import annotations

import inspect
import logging
import re
import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

import refkit
from refkit_flask import RefKit
from refkit_flask.config import OPTIONS
from refkit_flask.failures import redact
from refkit_flask.testing import captured_code, referral_client
from tests.support.shop import MakeShop, browser, code_of, new_app, program_of, state_of, visits

DOCS = Path(__file__).resolve().parent.parent / "docs"
ADMIN = {"X-User": "admin"}


def refkit_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "refkit.flask" and r.levelno >= logging.ERROR]


def checkout(app: Flask, amount: str, **headers: str) -> Any:
    return browser(app).post(
        "/checkout", data={"order": "o1", "amount": amount, "customer": "bob"}, headers=headers
    )


def with_float_checkout(app: Flask) -> None:
    """A checkout view that passes what a ``db.Float`` column gives (or a bad amount)."""
    ext: RefKit = state_of(app).extension

    @app.post("/float-checkout")
    @ext.track_conversion
    def float_checkout() -> Any:
        ext.conversion("f1", float(request.form["price"]), "EUR", customer_id="bob")
        return "thanks"


# -- unknown options, and a REFKIT_* key for every program option ----------------------------


def test_an_unknown_option_is_refused_naming_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(refkit.ConfigurationError, match="bogus_option") as caught:
        RefKit(new_app(tmp_path), bogus_option=1)
    for valid in ("fast_purchase", "signal_retention", "store", "rules", "clock"):
        assert valid in str(caught.value)
    with pytest.raises(refkit.ConfigurationError, match="fast_purchse"):
        RefKit(fast_purchse=None)  # a typo, even before init_app


def test_every_program_option_has_a_config_key_documented_in_flask_rst() -> None:
    parameters = inspect.signature(refkit.ReferralProgram).parameters
    assert set(parameters) == set(OPTIONS)
    documented = set(
        re.findall(r"^\.\. data:: (REFKIT_\w+)", (DOCS / "flask.rst").read_text(), re.M)
    )
    assert set(OPTIONS.values()) <= documented


def test_fast_purchase_option_and_key_reach_the_program(
    make_shop: MakeShop, tmp_path: Path
) -> None:
    assert program_of(make_shop()).fast_purchase == timedelta(seconds=60)
    assert program_of(make_shop("keyed", REFKIT_FAST_PURCHASE=None)).fast_purchase is None
    assert program_of(make_shop("secs", REFKIT_FAST_PURCHASE=5)).fast_purchase == timedelta(
        seconds=5
    )
    app = new_app(tmp_path, "option", REFKIT_FAST_PURCHASE=timedelta(seconds=5))
    RefKit(app, fast_purchase=None)  # the option wins over the key
    assert program_of(app).fast_purchase is None
    program_of(app).store.close()


def test_signal_retention_and_clock_keys_reach_the_program(tmp_path: Path) -> None:
    clock = refkit.FrozenClock(refkit.system_clock())
    app = new_app(tmp_path, REFKIT_SIGNAL_RETENTION=timedelta(days=3), REFKIT_CLOCK=clock)
    RefKit(app)
    try:
        assert program_of(app).signal_retention == timedelta(days=3)
        assert program_of(app).clock is clock
    finally:
        program_of(app).store.close()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("REFKIT_FAST_PURCHASE", "60"),
        ("REFKIT_SIGNAL_RETENTION", None),
        ("REFKIT_CLOCK", "now"),
        ("REFKIT_RAISE_ERRORS", "yes"),
        ("REFKIT_BOT_USER_AGENTS", "bot("),
    ],
)
def test_a_bad_value_for_a_new_key_is_refused(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match=key):
        RefKit(new_app(tmp_path, **{key: value}))


# -- the short key ------------------------------------------------------------------------------


def test_a_short_secret_key_fallback_says_where_it_came_from_and_what_to_do(
    tmp_path: Path,
) -> None:
    app = new_app(tmp_path, REFKIT_SECRET_KEY=None, SECRET_KEY="secret-key")
    with pytest.raises(refkit.ConfigurationError) as caught:
        RefKit(app)
    message = str(caught.value)
    assert message.startswith("SECRET_KEY (used because REFKIT_SECRET_KEY is not set) has 10")
    assert "[0]" not in message
    assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in message


def test_a_short_refkit_secret_key_is_named_and_a_rotated_list_says_which_key(
    tmp_path: Path,
) -> None:
    with pytest.raises(refkit.ConfigurationError, match=r"^REFKIT_SECRET_KEY has 5 characters"):
        RefKit(new_app(tmp_path, REFKIT_SECRET_KEY="short"))
    with pytest.raises(refkit.ConfigurationError, match=r"^key 1 of REFKIT_SECRET_KEY has 3"):
        RefKit(new_app(tmp_path, REFKIT_SECRET_KEY=["k" * 32, "old"]))


def test_the_core_short_key_error_has_no_index_for_one_key() -> None:
    with pytest.raises(refkit.ConfigurationError) as caught:
        refkit.ReferralProgram(secret_key="short", store="memory://")
    assert str(caught.value).startswith("secret_key has 5 characters")
    assert "token_urlsafe(32)" in str(caught.value)


# -- the shop's own mistakes: raised in development and tests, logged and counted otherwise --


def test_a_float_price_from_a_view_is_recorded(make_shop: MakeShop) -> None:
    app = make_shop()
    with_float_checkout(app)
    assert browser(app).post("/float-checkout", data={"price": "59.97"}).status_code == 200
    assert program_of(app).conversion("f1").amount == Decimal("59.97")  # type: ignore[union-attr]


@pytest.mark.parametrize("mode", [{"TESTING": True}, {"TESTING": False, "DEBUG": True}])
def test_a_bad_amount_in_a_view_raises_under_testing_or_debug(
    make_shop: MakeShop, mode: dict[str, bool]
) -> None:
    app = make_shop(**mode)
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with pytest.raises(refkit.ValidationError, match="amount"):
        checkout(app, "-5")
    assert program_of(app).conversion("o1") is None


def test_a_bad_amount_in_production_is_logged_at_error_and_counted(
    make_shop: MakeShop, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_shop(TESTING=False)
    response = checkout(app, "nan")
    assert response.status_code == 200
    [record] = refkit_errors(caplog)
    assert isinstance(record.exc_info[1], refkit.ValidationError)  # type: ignore[index]
    assert "amount" in record.getMessage()
    with app.app_context():
        recent = app.extensions["refkit_failures"].recent(program_of(app).clock())
    assert recent.count == 1
    assert recent.last[0].kind == "ValidationError"


@pytest.mark.parametrize(("explicit", "raised"), [(False, False), (True, True)])
def test_an_explicit_raise_errors_wins_over_testing_and_production(
    make_shop: MakeShop, explicit: bool, raised: bool
) -> None:
    for name, testing in (("testing", True), ("production", False)):
        app = make_shop(name, TESTING=testing, REFKIT_RAISE_ERRORS=explicit)
        app.config["PROPAGATE_EXCEPTIONS"] = True
        if raised:
            with pytest.raises(refkit.ValidationError):
                checkout(app, "-5")
        else:
            assert checkout(app, "-5").status_code == 200


def test_a_storage_failure_never_breaks_a_checkout_even_under_testing(
    make_shop: MakeShop, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_shop()
    program_of(app).create_all()
    with sqlite3.connect(tmp_path / "shop.db") as database:  # the table is gone: a broken store
        database.execute("DROP TABLE refkit_conversions")
    response = checkout(app, "30")
    assert response.status_code == 200
    assert response.text == "thanks"
    assert isinstance(refkit_errors(caplog)[0].exc_info[1], refkit.StorageError)  # type: ignore[index]


# -- the dashboard ------------------------------------------------------------------------------


def test_the_dashboard_shows_recent_failures_without_personal_data(
    make_shop: MakeShop, clock: refkit.FrozenClock
) -> None:
    app = make_shop(TESTING=False)
    ext: RefKit = state_of(app).extension
    ext.admin_check(lambda: request.headers.get("X-User") == "admin")
    program_of(app).record_conversion("o1", "carol.secret@example.com", "30", "EUR")
    checkout(app, "30")  # o1 again, another customer: a ConflictError, logged
    clock.advance(days=8)
    for _ in range(2):
        checkout(app, "-5")  # a ValidationError each time (o1 is refused before the conflict)
    page = browser(app).get("/refkit/admin", headers=ADMIN).text
    assert "2 recordings failed in the last 7 days" in page
    assert page.count("ValidationError: amount must not be negative") == 2
    assert "ConflictError" not in page  # 8 days ago
    clock.advance(days=8)
    page = browser(app).get("/refkit/admin", headers=ADMIN).text
    assert "failed in the last 7 days" not in page


def test_failure_messages_keep_no_quoted_values_or_emails() -> None:
    message = "order 'o1' was recorded for customer 'carol' (carol.secret@example.com)"
    assert redact(message) == "order '…' was recorded for customer '…' ('…')"
    assert len(redact("x" * 1000)) == 200


# -- bots -----------------------------------------------------------------------------------


@pytest.mark.parametrize("agent", ["curl/8.5.0", "Wget/1.21.4", "python-requests/2.32.3"])
def test_command_line_clients_are_bots_unless_the_filter_is_off(
    make_shop: MakeShop, agent: str
) -> None:
    app = make_shop()
    code = code_of(app, "alice")
    client = app.test_client()
    client.get(f"/r/{code}", headers={"User-Agent": agent})
    assert captured_code(client) is None
    assert visits(app, "alice") == 0

    off = make_shop("off", REFKIT_BOT_USER_AGENTS="")
    client = off.test_client()
    client.get(f"/r/{code_of(off, 'alice')}", headers={"User-Agent": agent})
    assert captured_code(client) == code_of(off, "alice")
    assert visits(off, "alice") == 1


def test_a_shop_pattern_replaces_the_default_and_the_testing_helpers_still_work(
    make_shop: MakeShop,
) -> None:
    app = make_shop(REFKIT_BOT_USER_AGENTS=r"internal-monitor")
    code = code_of(app, "alice")
    client = app.test_client()
    client.get(f"/r/{code}", headers={"User-Agent": "internal-monitor/1.0"})
    assert captured_code(client) is None
    client.get(f"/r/{code}", headers={"User-Agent": "curl/8.5.0"})
    assert captured_code(client) == code
    assert captured_code(referral_client(app, "alice")) == code
