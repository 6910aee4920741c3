"""A/B tests of offers in Flask: the variant assigned to the visitor at the landing, kept in
the signed cookie, stored on the referral at signup and followed by the offer, the discount
and the rewards; never taken from the URL; the dashboard's experiment panel, escaped."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

import refkit
from refkit import Experiment, Reward, RewardRules
from refkit_flask import RefKit
from refkit_flask.experiment_panel import format_p, verdict

from .support.api_shop import START, make_app
from .support.shop import MakeShop, browser, code_of, cookie_payload, program_of, state_of

RULES_A = RewardRules(
    currency="EUR",
    referrer_reward=Reward.percent(10),
    referee_discount=Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
)
RULES_B = RewardRules(
    currency="EUR",
    referrer_reward=Reward.fixed(Decimal("7"), "EUR"),
    referee_discount=Reward.fixed(Decimal("10"), "EUR"),
    first_purchase_only=True,
)
WELCOME = Experiment("welcome-offer", {"A": RULES_A, "B": RULES_B})


def user_in(variant: str, prefix: str = "user") -> str:
    """A user id the experiment assigns to ``variant`` by itself."""
    return next(
        f"{prefix}-{n}" for n in range(1000) if WELCOME.variant_for(f"{prefix}-{n}") == variant
    )


def add_pay_view(app: Flask) -> None:
    """``POST /pay``: claims the friend's discount and records the amount paid."""
    ext: RefKit = state_of(app).extension

    @app.post("/pay")
    @ext.track_conversion
    def pay() -> dict[str, Any]:
        form = request.form
        customer = form.get("customer") or None
        claim = ext.claim_discount(form["order"], Decimal("40"), "EUR", customer_id=customer)
        paid = Decimal("40") - claim.discount
        ext.conversion(form["order"], paid, "EUR", customer_id=customer, code=form.get("code"))
        return {"discount": str(claim.discount)}


@pytest.fixture
def shop(make_shop: MakeShop) -> Flask:
    app = make_shop(rules=WELCOME)
    add_pay_view(app)
    return app


def visitor_shown(app: Flask, variant: str, query: str = "") -> FlaskClient:
    """A browser that landed on alice's link and was assigned ``variant`` (visitors are
    assigned at random: new visitors until one gets it)."""
    code = code_of(app, "alice")
    for _ in range(64):
        client = browser(app)
        assert client.get(f"/r/{code}{query}").status_code == 302
        payload = cookie_payload(app, client)
        assert payload is not None
        if payload["ab"] == ["welcome-offer", variant]:
            return client
    raise AssertionError(f"no visitor was assigned {variant!r} in 64 tries")


def test_the_landing_assigns_the_visitor_a_variant_kept_in_the_signed_cookie(
    shop: Flask,
) -> None:
    client = visitor_shown(shop, "B")
    payload = cookie_payload(shop, client)
    assert payload is not None
    visitor = payload["vid"]
    assert WELCOME.variant_for(visitor) == "B"  # assigned from the cookie's visitor id
    assert program_of(shop).summary(variant="B").visits >= 1
    # Another landing (another code, a day later...) keeps the visitor's variant.
    client.get(f"/r/{code_of(shop, 'zoe')}")
    again = cookie_payload(shop, client)
    assert again is not None
    assert (again["vid"], again["ab"]) == (visitor, ["welcome-offer", "B"])


def test_a_visitor_shown_b_gets_bs_discount_and_rewards_after_signing_up(shop: Flask) -> None:
    client = visitor_shown(shop, "B")
    bob = user_in("A")  # left to itself, the experiment would put bob in A
    signup = client.post("/signup", data={"user": bob})
    assert signup.get_json() == {"referrer": "alice"}
    program = program_of(shop)
    referral = program.referral_for(bob)
    assert referral is not None
    assert referral.variant == "B"
    offer = client.get("/refkit/api/offer?amount=40&currency=EUR", headers={"X-User": bob})
    assert offer.get_json()["discount"] == "10"
    paid = client.post("/pay", data={"order": "o1"}, headers={"X-User": bob})
    assert Decimal(paid.get_json()["discount"]) == 10
    conversion = program.conversion("o1")
    assert conversion is not None
    assert conversion.amount == Decimal("30")
    assert {(r.role, r.kind, r.value) for r in conversion.rewards} == {
        ("referrer", "fixed", Decimal("7.00")),  # B's referrer reward, not A's 10%
        ("referee", "discount", Decimal("10.00")),
    }


def test_a_guest_is_offered_and_given_the_variant_of_the_cookie(shop: Flask) -> None:
    client = visitor_shown(shop, "B")
    offer = client.get("/refkit/api/offer?amount=40&currency=EUR").get_json()
    assert offer["discount"] == "10"
    guest = user_in("A", "guest")
    paid = client.post("/pay", data={"order": "g1", "customer": guest})
    assert Decimal(paid.get_json()["discount"]) == 10
    referral = program_of(shop).referral_for(guest)
    assert referral is not None
    assert referral.variant == "B"


def test_a_code_typed_at_checkout_is_assigned_from_the_customer(shop: Flask) -> None:
    client = browser(shop)  # no landing, no cookie
    guest = user_in("B", "typed")
    code = code_of(shop, "alice")
    paid = client.post("/pay", data={"order": "t1", "customer": guest, "code": code})
    assert paid.status_code == 200
    referral = program_of(shop).referral_for(guest)
    assert referral is not None
    assert referral.variant == "B"


@pytest.mark.parametrize("query", ["?variant=B", "?ab=B", "?variant=A&ab=A&vid=x"])
def test_the_variant_never_comes_from_the_url(shop: Flask, query: str) -> None:
    code = code_of(shop, "alice")
    for n in range(12):
        client = browser(shop)
        client.get(f"/r/{code}{query}")
        client.get(f"/?ref={code}&{query.lstrip('?')}")
        payload = cookie_payload(shop, client)
        assert payload is not None
        assert payload["ab"] == ["welcome-offer", WELCOME.variant_for(payload["vid"])]
        user = f"url-{n}"
        client.post("/signup", data={"user": user})
        referral = program_of(shop).referral_for(user)
        assert referral is not None
        assert referral.variant == payload["ab"][1]


def test_a_cookie_of_another_experiment_gets_a_variant_of_this_one(
    make_shop: MakeShop, tmp_path: Path
) -> None:
    renamed = Experiment("spring-offer", {"A": RULES_A, "C": RULES_B})
    first = make_shop("first", rules=WELCOME)
    client = visitor_shown(first, "B")
    second = make_shop("second", rules=renamed)
    # The same keys sign both apps' cookies: carry the cookie over to the second app.
    state = state_of(first)
    token = client.get_cookie(state.settings.cookie_name)
    assert token is not None
    other = browser(second)
    other.set_cookie(state.settings.cookie_name, token.value)
    code = code_of(second, "alice")
    other.get(f"/r/{code}")
    payload = cookie_payload(second, other)
    assert payload is not None
    assert payload["ab"][0] == "spring-offer"
    assert payload["ab"][1] in ("A", "C")
    other.post("/signup", data={"user": "carol"})
    referral = program_of(second).referral_for("carol")
    assert referral is not None
    assert referral.variant == payload["ab"][1]


def test_without_an_experiment_the_cookie_holds_no_variant(make_shop: MakeShop) -> None:
    app = make_shop(rules=RULES_A)
    client = browser(app)
    client.get(f"/r/{code_of(app, 'alice')}")
    payload = cookie_payload(app, client)
    assert payload is not None
    assert "ab" not in payload
    assert "vid" not in payload
    client.post("/signup", data={"user": "bob"})
    referral = program_of(app).referral_for("bob")
    assert referral is not None
    assert referral.variant is None


def test_an_experiments_cookie_lasts_its_longest_attribution_window(
    make_shop: MakeShop,
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    short = replace(RULES_A, attribution_window=timedelta(days=7))
    long = replace(RULES_B, attribution_window=timedelta(days=45))
    app = make_shop(rules=Experiment("windows", {"A": short, "B": long}))
    assert state_of(app).settings.cookie_max_age == timedelta(days=45)


# -- the dashboard's experiment panel --------------------------------------------------------

HOSTILE_KEY = '<script>alert("key")</script>]]></svg><svg onload=alert(1)>'
HOSTILE_VARIANT = "<b>B</b>\"'><img src=x onerror=alert(2)>&"


@pytest.fixture
def dashboard_app(tmp_path: Path) -> Iterator[Flask]:
    experiment = Experiment(HOSTILE_KEY, {"A": RULES_A, HOSTILE_VARIANT: RULES_B})
    app = make_app(tmp_path, refkit.FrozenClock(START), REFKIT_RULES=experiment)
    try:
        yield app
    finally:
        program_of(app).store.close()


def _seed(program: refkit.ReferralProgram, variant: str, signups: int, buyers: int) -> None:
    code = program.code_for("alice")
    for n in range(signups):
        user = f"{variant[:1]}-{n}-{len(variant)}"
        program.record_visit(code, variant=variant)
        program.attribute(user, code, variant=variant)
        if n < buyers:
            program.record_conversion(f"order-{user}", user, 40, "EUR")


def test_the_dashboard_shows_the_experiment_escaped_under_a_strict_csp(
    dashboard_app: Flask,
) -> None:
    program = program_of(dashboard_app)
    _seed(program, "A", 40, 12)
    _seed(program, HOSTILE_VARIANT, 50, 25)
    admin = dashboard_app.test_client()
    response = admin.get("/refkit/admin", headers={"X-User": "admin"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    csp = response.headers["Content-Security-Policy"]
    assert "style-src 'self'" in csp
    assert "script-src" not in csp  # default-src 'none': no script at all
    panel = text[text.index('id="experiment"') :]
    panel = panel[: panel.index("</section>")]
    # Nothing hostile reaches the page unescaped, in the HTML or in the SVG.
    for raw in ("<script", "<img", "<b>", "]]>", "<svg onload", "\"'>"):
        assert raw not in text, raw
    assert HOSTILE_KEY in html.unescape(panel)  # shown, as text
    assert HOSTILE_VARIANT in html.unescape(panel)
    assert 'style="' not in text
    assert "<script" not in text
    # The variants side by side, each interval drawn, the p-value in words.
    assert panel.count('class="interval"') == 2
    assert panel.count("<tr data-variant=") == 2
    report = program.experiment_report()
    b = report.variants[1]
    assert b.p_value is not None
    assert f"no significant difference yet ({format_p(b.p_value)})" in html.unescape(panel)
    assert "Decide how many signups" in panel
    rates = re.findall(r'data-label="Conversion rate">([^<]*)<', panel)
    assert rates == ["30.0% (18.1% to 45.4%)", "50.0% (36.6% to 63.4%)"]


def test_the_dashboard_has_no_experiment_panel_without_an_experiment(tmp_path: Path) -> None:
    app = make_app(tmp_path, refkit.FrozenClock(START))
    try:
        text = (
            app.test_client()
            .get("/refkit/admin", headers={"X-User": "admin"})
            .get_data(as_text=True)
        )
        assert 'id="experiment"' not in text
    finally:
        program_of(app).store.close()


@pytest.mark.parametrize(
    ("p_value", "rate", "words"),
    [
        (None, 0.5, "not enough data for a test yet"),
        (0.41, 0.5, "no significant difference yet (p = 0.41)"),
        (0.012, 0.5, "converts better than A: a significant difference (p = 0.012)"),
        (0.0004, 0.1, "converts worse than A: a significant difference (p < 0.001)"),
    ],
)
def test_the_verdict_in_plain_words(p_value: float | None, rate: float, words: str) -> None:
    def entry(name: str, rate: float, p: float | None) -> refkit.VariantReport:
        return refkit.VariantReport(name, 0, 10, 0, rate, 0.0, 1.0, Decimal(0), Decimal(0), None, p)

    control = entry("A", 0.3, None)
    assert verdict(control, control).startswith("control")
    assert verdict(entry("B", rate, p_value), control) == words
