"""The Flask extension: set-up, config keys, signup attribution, conversions, signals, Jinja."""

from __future__ import annotations

import logging
import sys
import types
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from flask import Flask, current_app, render_template_string
from flask.testing import FlaskClient

import refkit
from refkit_flask import RefKit, RefKitState, signals

from .support.shop import (
    SECRET,
    MakeShop,
    add_shop_views,
    browser,
    code_of,
    cookie_payload,
    new_app,
    program_of,
    set_cookie_header,
    visits,
)

OTHER_SECRET = "another-flask-secret-0123456789abcdefghijkl"
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)


def refkit_errors(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "refkit.flask" and r.levelno >= logging.ERROR]


# -- set-up --------------------------------------------------------------------------------


def test_refkit_app_keeps_its_state_in_app_extensions(app: Flask, ext: RefKit) -> None:
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    assert state.extension is ext
    assert isinstance(state.program, refkit.ReferralProgram)
    with app.app_context():
        assert ext.program is state.program


def test_init_app_sets_up_a_later_app(
    tmp_path: Path, clock: refkit.FrozenClock, opened_apps: list[Flask]
) -> None:
    ext = RefKit(clock=clock)
    app = new_app(tmp_path)
    assert "refkit" not in app.extensions
    ext.init_app(app)
    opened_apps.append(app)
    add_shop_views(app, ext)
    code = code_of(app, "alice")
    assert browser(app).get(f"/r/{code}").status_code == 302
    assert visits(app, "alice") == 1
    with app.app_context():
        assert ext.program is app.extensions["refkit"].program


def test_one_extension_serves_two_apps_with_their_own_programs(
    tmp_path: Path, clock: refkit.FrozenClock, opened_apps: list[Flask]
) -> None:
    ext = RefKit(clock=clock)
    one = new_app(tmp_path, "one")
    two = new_app(tmp_path, "two", REFKIT_SECRET_KEY=OTHER_SECRET)
    for app in (one, two):
        ext.init_app(app)
        opened_apps.append(app)
        add_shop_views(app, ext)
    assert program_of(one) is not program_of(two)
    with one.app_context():
        assert ext.program is program_of(one)
    with two.app_context():
        assert ext.program is program_of(two)
    code_one = code_of(one, "alice")
    assert "Set-Cookie" not in browser(two).get(f"/r/{code_one}").headers  # another key
    assert "Set-Cookie" in browser(one).get(f"/r/{code_one}").headers
    assert visits(one, "alice") == 1
    assert visits(two, "alice") == 0
    assert (tmp_path / "one.db").exists()
    assert (tmp_path / "two.db").exists()


def test_program_outside_an_app_context_raises_runtime_error(ext: RefKit) -> None:
    with pytest.raises(RuntimeError, match="application context"):
        _ = ext.program


def test_program_in_an_app_without_refkit_raises_runtime_error(ext: RefKit) -> None:
    with Flask("bare").app_context(), pytest.raises(RuntimeError, match="init_app"):
        _ = ext.program


# -- the secret key ---------------------------------------------------------------------------


def test_secret_key_falls_back_to_flask_secret_key(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_SECRET_KEY=None, SECRET_KEY=SECRET)
    assert program_of(app).secret_key == SECRET


def test_refkit_secret_key_wins_over_secret_key(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_SECRET_KEY=OTHER_SECRET, SECRET_KEY=SECRET)
    assert program_of(app).secret_key == OTHER_SECRET


@pytest.mark.parametrize(
    "config",
    [
        {"REFKIT_SECRET_KEY": "too-short"},
        {"REFKIT_SECRET_KEY": None, "SECRET_KEY": "x" * 31},
        {"REFKIT_SECRET_KEY": None},
        {"REFKIT_SECRET_KEY": ""},
    ],
)
def test_short_or_missing_secret_key_fails_at_init_app(
    tmp_path: Path, clock: refkit.FrozenClock, config: dict[str, Any]
) -> None:
    ext = RefKit(clock=clock)
    app = new_app(tmp_path, **config)
    with pytest.raises(refkit.ConfigurationError, match="32"):
        ext.init_app(app)
    assert "refkit" not in app.extensions


# -- the database -----------------------------------------------------------------------------


def test_default_database_is_refkit_db_in_the_instance_folder(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_DATABASE_URL=None)
    database = Path(app.instance_path) / "refkit.db"
    code = code_of(app, "alice")
    assert database.exists()
    assert isinstance(program_of(app).store, refkit.SqlStore)
    assert program_of(app).resolve(code) == "alice"


def test_database_url_chooses_the_store(make_shop: MakeShop, tmp_path: Path) -> None:
    app = make_shop(REFKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'elsewhere.db'}")
    code_of(app, "alice")
    assert (tmp_path / "elsewhere.db").exists()
    assert not (Path(app.instance_path) / "refkit.db").exists()


def test_memory_database_url(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_DATABASE_URL="memory://")
    assert isinstance(program_of(app).store, refkit.MemoryStore)


def test_store_engine_argument_wins_over_database_url(make_shop: MakeShop, tmp_path: Path) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'shop-tables.db'}")
    try:
        app = make_shop(store=engine)
        code_of(app, "alice")
        names = sqlalchemy.inspect(engine).get_table_names()
        assert any(name.startswith("refkit_") for name in names)
        assert not (tmp_path / "shop.db").exists()
    finally:
        engine.dispose()


def test_store_callable_is_called_with_the_app_in_an_app_context(
    make_shop: MakeShop, tmp_path: Path
) -> None:
    engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'flask-sqlalchemy.db'}")
    calls: list[tuple[Flask, Flask]] = []

    def db_engine(app: Flask) -> sqlalchemy.Engine:
        calls.append((app, current_app._get_current_object()))  # type: ignore[attr-defined]
        return engine

    try:
        app = make_shop(store=db_engine)
        assert calls == [(app, app)]
        code_of(app, "alice")
        assert "refkit_referrers" in sqlalchemy.inspect(engine).get_table_names()
    finally:
        engine.dispose()


# -- the other config keys ---------------------------------------------------------------------


def test_query_param_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_QUERY_PARAM="via")
    code = code_of(app, "alice")
    client = browser(app)
    assert "Set-Cookie" not in client.get("/", query_string={"ref": code}).headers
    assert "Set-Cookie" in client.get("/", query_string={"via": code}).headers
    assert (
        program_of(app).link_for("alice", "https://shop.test/") == f"https://shop.test/?via={code}"
    )


def test_campaign_param_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_CAMPAIGN_PARAM="utm_campaign")
    code = code_of(app, "alice")
    client = browser(app)
    client.get(f"/r/{code}", query_string={"utm_campaign": "spring", "campaign": "ignored"})
    client.post("/signup", data={"user": "carol"})
    program = program_of(app)
    assert program.summary(campaign="spring").visits == 1
    assert program.summary(campaign="ignored").visits == 0
    assert program.referral_for("carol").campaign == "spring"  # type: ignore[union-attr]


def test_cookie_name_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_COOKIE_NAME="shop_ref")
    client = browser(app)
    response = client.get(f"/r/{code_of(app, 'alice')}")
    assert set_cookie_header(response).startswith("shop_ref=")
    assert client.get_cookie("refkit_referral") is None
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": "alice"}


@pytest.mark.parametrize(
    ("settings", "seconds"),
    [
        ({"REFKIT_COOKIE_MAX_AGE": timedelta(days=7)}, 7 * 86400),
        ({"REFKIT_COOKIE_MAX_AGE": 3600}, 3600),
        ({"rules": refkit.RewardRules(attribution_window=timedelta(days=10))}, 10 * 86400),
        ({"REFKIT_RULES": refkit.RewardRules(attribution_window=timedelta(days=3))}, 3 * 86400),
        ({"rules": refkit.RewardRules()}, 30 * 86400),
        ({}, 30 * 86400),
    ],
)
def test_cookie_max_age(make_shop: MakeShop, settings: dict[str, Any], seconds: int) -> None:
    app = make_shop(**settings)
    response = browser(app).get(f"/r/{code_of(app, 'alice')}")
    assert f"Max-Age={seconds};" in set_cookie_header(response) + ";"


def test_cookie_max_age_in_seconds_also_limits_the_signature(
    make_shop: MakeShop, clock: refkit.FrozenClock
) -> None:
    app = make_shop(REFKIT_COOKIE_MAX_AGE=3600)
    client = browser(app)
    client.get(f"/r/{code_of(app, 'alice')}")
    clock.advance(seconds=3601)
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": None}


@pytest.mark.parametrize("value", ["7 days", 0, -5, timedelta(0), True, 1.5])
def test_bad_cookie_max_age_is_a_configuration_error(make_shop: MakeShop, value: object) -> None:
    with pytest.raises(refkit.ConfigurationError, match="REFKIT_COOKIE_MAX_AGE"):
        make_shop(REFKIT_COOKIE_MAX_AGE=value)


def test_url_prefix_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_URL_PREFIX="shop-referrals/")
    client = browser(app)
    assert client.get("/shop-referrals/api/me").status_code == 401
    assert client.get("/refkit/api/me").status_code == 404


def test_landing_path_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_LANDING_PATH="/invite")
    code = code_of(app, "alice")
    client = browser(app)
    assert client.get(f"/r/{code}").status_code == 404
    assert client.get(f"/invite/{code}").status_code == 302
    assert visits(app, "alice") == 1


def test_landing_redirect_config(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_LANDING_REDIRECT="/welcome")
    client = browser(app)
    assert client.get(f"/r/{code_of(app, 'alice')}").headers["Location"] == "/welcome"
    assert client.get("/r/NOTACODE?next=//evil.com").headers["Location"] == "/welcome"


@pytest.mark.parametrize("value", ["https://evil.com/", "//evil.com", "welcome"])
def test_non_local_landing_redirect_is_a_configuration_error(
    make_shop: MakeShop, value: str
) -> None:
    with pytest.raises(refkit.ConfigurationError, match="REFKIT_LANDING_REDIRECT"):
        make_shop(REFKIT_LANDING_REDIRECT=value)


def test_capture_all_pages_off_ignores_ref_but_keeps_the_landing_route(
    make_shop: MakeShop,
) -> None:
    app = make_shop(REFKIT_CAPTURE_ALL_PAGES=False)
    code = code_of(app, "alice")
    client = browser(app)
    assert "Set-Cookie" not in client.get("/", query_string={"ref": code}).headers
    assert visits(app, "alice") == 0
    assert "Set-Cookie" in client.get(f"/r/{code}").headers
    assert visits(app, "alice") == 1


def test_rules_from_config_earn_rewards(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_RULES=RULES)
    assert program_of(app).rules is RULES
    client = browser(app)
    client.get(f"/r/{code_of(app, 'alice')}")
    client.post("/checkout", data={"order": "o1", "customer": "guest"})
    [reward] = program_of(app).conversion("o1").rewards  # type: ignore[union-attr]
    assert (reward.beneficiary_id, reward.value) == ("alice", Decimal("5"))


def test_rules_argument_wins_over_config(make_shop: MakeShop) -> None:
    other = refkit.RewardRules(referrer_reward=refkit.Reward.points(100))
    app = make_shop(REFKIT_RULES=RULES, rules=other)
    assert program_of(app).rules is other


def test_rules_config_of_the_wrong_type_is_a_configuration_error(make_shop: MakeShop) -> None:
    with pytest.raises(refkit.ConfigurationError, match="REFKIT_RULES"):
        make_shop(REFKIT_RULES={"referrer_reward": 5})


# -- attribute_signup ---------------------------------------------------------------------------


def test_attribute_signup_binds_through_the_cookie_and_returns_the_referral(
    app: Flask, ext: RefKit, client: FlaskClient, alice_code: str
) -> None:
    client.get(f"/r/{alice_code}")
    with client:
        client.get("/")
        referral = ext.attribute_signup("carol")
    assert isinstance(referral, refkit.Referral)
    assert (referral.referee_id, referral.referrer_id, referral.source) == (
        "carol",
        "alice",
        "link",
    )
    assert program_of(app).referral_for("carol") == referral


def test_attribute_signup_without_a_cookie_returns_none(
    app: Flask, ext: RefKit, client: FlaskClient
) -> None:
    with client:
        client.get("/")
        assert ext.attribute_signup("carol") is None
    assert program_of(app).referral_for("carol") is None


def test_attribute_signup_with_own_code_returns_none_and_logs(
    app: Flask, client: FlaskClient, alice_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    client.get(f"/r/{alice_code}")
    assert client.post("/signup", data={"user": "alice"}).json == {"referrer": None}
    [record] = refkit_errors(caplog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], refkit.SelfReferral)
    assert program_of(app).referral_for("alice") is None


def test_attribute_signup_with_own_code_raises_with_raise_errors(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_RAISE_ERRORS=True)
    client = browser(app)
    client.get(f"/r/{code_of(app, 'alice')}")
    with pytest.raises(refkit.SelfReferral):
        client.post("/signup", data={"user": "alice"})


def test_attribute_signup_of_someone_referred_elsewhere_keeps_the_first_referrer(
    app: Flask, client: FlaskClient, alice_code: str, caplog: pytest.LogCaptureFixture
) -> None:
    program_of(app).attribute("carol", code_of(app, "bob"), source="staff")
    client.get(f"/r/{alice_code}")
    assert client.post("/signup", data={"user": "carol"}).json == {"referrer": None}
    assert program_of(app).referral_for("carol").referrer_id == "bob"  # type: ignore[union-attr]
    assert isinstance(refkit_errors(caplog)[0].exc_info[1], refkit.AlreadyReferred)  # type: ignore[index]


# -- conversions ------------------------------------------------------------------------------


def checkout(client: FlaskClient, **form: str) -> Any:
    form.setdefault("order", "o1")
    form.setdefault("customer", "carol")
    return client.post("/checkout", data=form)


@pytest.mark.parametrize(("outcome", "status"), [({}, 200), ({"outcome": "redirect"}, 302)])
def test_track_conversion_records_when_the_view_succeeds(
    app: Flask, client: FlaskClient, outcome: dict[str, str], status: int
) -> None:
    response = checkout(client, **outcome)
    assert response.status_code == status
    conversion = program_of(app).conversion("o1")
    assert conversion is not None
    assert (conversion.customer_id, conversion.amount, conversion.currency) == (
        "carol",
        Decimal("30"),
        "EUR",
    )


@pytest.mark.parametrize("status", ["400", "402", "500"])
def test_track_conversion_records_nothing_when_the_view_fails(
    app: Flask, client: FlaskClient, status: str
) -> None:
    assert checkout(client, status=status).status_code == int(status)
    assert program_of(app).conversion("o1") is None


def test_track_conversion_records_nothing_when_the_view_raises(
    app: Flask, client: FlaskClient
) -> None:
    with pytest.raises(RuntimeError, match="payment provider"):
        checkout(client, outcome="raise")
    assert program_of(app).conversion("o1") is None


def test_track_conversion_lets_an_unhandled_error_become_a_500(
    app: Flask, client: FlaskClient
) -> None:
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert checkout(client, outcome="raise").status_code == 500
    assert program_of(app).conversion("o1") is None


def test_guest_checkout_binds_through_the_cookie(
    app: Flask, client: FlaskClient, alice_code: str
) -> None:
    client.get(f"/r/{alice_code}")
    checkout(client, customer="guest-7")
    assert program_of(app).conversion("o1").referrer_id == "alice"  # type: ignore[union-attr]
    assert program_of(app).referral_for("guest-7").referrer_id == "alice"  # type: ignore[union-attr]


def test_checkout_customer_defaults_to_the_logged_in_user(app: Flask, client: FlaskClient) -> None:
    client.post("/checkout", data={"order": "o1"}, headers={"X-User": "dave"})
    assert program_of(app).conversion("o1").customer_id == "dave"  # type: ignore[union-attr]


def test_checkout_without_any_customer_is_logged_not_raised(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = client.post("/checkout", data={"order": "o1"})
    assert response.status_code == 200
    assert program_of(app).conversion("o1") is None
    assert "customer_id" in str(refkit_errors(caplog)[0].exc_info[1])  # type: ignore[index]


def test_conversion_outside_a_tracked_view_records_at_once(app: Flask, client: FlaskClient) -> None:
    response = client.post("/webhook", data={"order": "o1", "customer": "carol"})
    assert response.json == {"recorded": True}
    assert program_of(app).conversion("o1") is not None


def test_conversion_in_a_job_with_only_an_app_context_records_at_once(
    app: Flask, ext: RefKit
) -> None:
    with app.app_context():
        conversion = ext.conversion("job-1", "30", "eur", customer_id="carol")
    assert isinstance(conversion, refkit.Conversion)
    assert program_of(app).conversion("job-1") == conversion


def test_a_refkit_failure_never_breaks_the_checkout(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    program_of(app).record_conversion("o1", "someone-else", "30", "EUR")
    response = checkout(client)
    assert response.status_code == 200
    assert response.text == "thanks"
    [record] = refkit_errors(caplog)
    assert isinstance(record.exc_info[1], refkit.ConflictError)  # type: ignore[index]
    assert program_of(app).conversion("o1").customer_id == "someone-else"  # type: ignore[union-attr]


def test_a_refkit_failure_in_a_webhook_is_logged_not_raised(
    app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    program_of(app).record_conversion("o1", "someone-else", "30", "EUR")
    response = client.post("/webhook", data={"order": "o1", "customer": "carol"})
    assert response.json == {"recorded": False}
    assert isinstance(refkit_errors(caplog)[0].exc_info[1], refkit.ConflictError)  # type: ignore[index]


def test_a_refkit_failure_raises_with_raise_errors(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_RAISE_ERRORS=True)
    program_of(app).record_conversion("o1", "someone-else", "30", "EUR")
    with pytest.raises(refkit.ConflictError):
        checkout(browser(app))


# -- the logged-in user -----------------------------------------------------------------------


def test_user_loader_decorator_returns_the_function_and_ids_become_str(
    app: Flask, ext: RefKit
) -> None:
    def loader() -> int:
        return 42

    assert ext.user_loader(loader) is loader
    with app.test_request_context():
        assert ext.current_user_id() == "42"


def test_without_a_loader_or_flask_login_nobody_is_logged_in(
    tmp_path: Path, clock: refkit.FrozenClock, opened_apps: list[Flask], monkeypatch: Any
) -> None:
    monkeypatch.setitem(sys.modules, "flask_login", None)  # "not installed"
    app = new_app(tmp_path)
    ext = RefKit(app, clock=clock)
    opened_apps.append(app)
    with app.test_request_context():
        assert ext.current_user_id() is None
        assert ext.code() is None


def test_without_a_loader_flask_login_current_user_is_used(
    tmp_path: Path, clock: refkit.FrozenClock, opened_apps: list[Flask], monkeypatch: Any
) -> None:
    user = types.SimpleNamespace(is_authenticated=True, get_id=lambda: "7")
    monkeypatch.setitem(sys.modules, "flask_login", types.SimpleNamespace(current_user=user))
    app = new_app(tmp_path)
    ext = RefKit(app, clock=clock)
    opened_apps.append(app)
    with app.test_request_context():
        assert ext.current_user_id() == "7"
        user.is_authenticated = False
        assert ext.current_user_id() is None


# -- signals ----------------------------------------------------------------------------------


def run_the_whole_story(app: Flask, clock: refkit.FrozenClock) -> None:
    """Capture, signup, conversion, approval (and the milestone it reaches), refunds and a
    grant: every signal fires."""
    program = program_of(app)
    first, second = browser(app), browser(app)
    for visitor, user, order in ((first, "carol", "o1"), (second, "dave", "o2")):
        visitor.get(f"/r/{code_of(app, 'alice')}")
        visitor.post("/signup", data={"user": user})
        clock.advance(minutes=5)  # not a fast purchase, which would be held for review
        checkout(visitor, order=order, customer=user)
        if order == "o1":
            clock.advance(days=15)
            program.approve_due()
    program.refund("o1")  # approved: reversed
    program.refund("o2")  # still pending: revoked
    program.grant("alice", refkit.Reward.points(3), reference="g-1", reason="goodwill")


SIGNAL_RECORDS: dict[str, tuple[type, str | None]] = {
    "referral_captured": (str, None),
    "referral_created": (refkit.Referral, None),
    "conversion_recorded": (refkit.Conversion, None),
    "reward_created": (refkit.EarnedReward, "pending"),
    "reward_approved": (refkit.EarnedReward, "approved"),
    "reward_revoked": (refkit.EarnedReward, "revoked"),
    "reward_reversed": (refkit.EarnedReward, "reversed"),
    "reward_granted": (refkit.EarnedReward, "approved"),
    "milestone_reached": (refkit.EarnedReward, "approved"),
}
#: The story's rules: with a milestone at the first rewarded referral.
STORY_RULES = refkit.RewardRules(
    referrer_reward=RULES.referrer_reward,
    hold_period=RULES.hold_period,
    milestones=[refkit.Milestone(1, refkit.Reward.points(10))],
)


@pytest.mark.parametrize("name", sorted(SIGNAL_RECORDS))
def test_signal_fires_with_the_app_as_sender_and_the_record(
    make_shop: MakeShop, clock: refkit.FrozenClock, name: str
) -> None:
    app = make_shop(rules=STORY_RULES)
    received: list[tuple[object, object]] = []

    def receiver(sender: object, record: object) -> None:
        received.append((sender, record))

    with getattr(signals, name).connected_to(receiver):
        run_the_whole_story(app, clock)
    kind, status = SIGNAL_RECORDS[name]
    assert received
    for sender, record in received:
        assert sender is app
        assert isinstance(record, kind)
        if status is not None:
            assert record.status == status  # type: ignore[attr-defined]


def test_every_signal_of_the_module_is_covered() -> None:
    names = {name for name in signals.__all__ if name != "SIGNALS"}
    assert names == set(SIGNAL_RECORDS)


def test_signals_name_the_app_that_sent_them(
    make_shop: MakeShop,
) -> None:
    one, two = make_shop("one"), make_shop("two")
    received: list[object] = []
    with signals.referral_created.connected_to(lambda sender, record: received.append(sender)):
        program_of(one).attribute("carol", code_of(one, "alice"))
        program_of(two).attribute("dave", code_of(two, "alice"))
    assert received == [one, two]


# -- Jinja ------------------------------------------------------------------------------------


def test_jinja_helpers_render_the_logged_in_users_code_and_link(
    app: Flask, alice_code: str
) -> None:
    with app.test_request_context(headers={"X-User": "alice"}):
        html = render_template_string("{{ refkit_code() }} {{ refkit_link() }}")
        spring = render_template_string("{{ refkit_link(campaign='spring') }}")
    assert html == f"{alice_code} http://localhost/r/{alice_code}"
    assert spring == f"http://localhost/r/{alice_code}?campaign=spring"


def test_jinja_share_link_captures_the_referral(app: Flask, client: FlaskClient) -> None:
    with app.test_request_context(headers={"X-User": "alice"}):
        link = render_template_string("{{ refkit_link(campaign='spring') }}")
    client.get(link)
    assert cookie_payload(app, client)["campaign"] == "spring"  # type: ignore[index]
    assert visits(app, "alice") == 1


def test_jinja_helpers_render_nothing_for_anonymous_visitors(app: Flask) -> None:
    with app.test_request_context():
        assert render_template_string("[{{ refkit_code() }}][{{ refkit_link() }}]") == "[][]"
