"""The friend's discount and credit in Flask: ``refkit.offer``, ``refkit.claim_discount``
(released when a tracked checkout fails), ``/refkit/api/offer`` and the balance in
``/refkit/api/me``."""

from __future__ import annotations

import logging
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from flask.testing import FlaskClient

import refkit
from refkit_flask import RefKit

from .support.shop import MakeShop, browser, code_of, program_of, state_of

RULES = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
    referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
)


def add_discount_views(app: Flask, ext: RefKit) -> None:
    """``/cart`` (the offer) and ``/pay`` (tracked: claim, then pay or fail)."""

    @app.get("/cart")
    def cart() -> dict[str, Any]:
        offer = ext.offer(request.args.get("amount", "40"), "EUR")
        return {"discount": f"{offer.discount:.2f}", "reasons": list(offer.reasons)}

    @app.post("/pay")
    @ext.track_conversion
    def pay() -> Any:
        form = request.form
        total = Decimal(form.get("amount", "40"))
        claim = ext.claim_discount(form["order"], total, "EUR", customer_id=form.get("customer"))
        paid = total - claim.discount
        outcome = form.get("outcome", "paid")
        if outcome == "raise":
            raise RuntimeError("the payment provider is down")
        if outcome != "paid":
            return {"error": "declined"}, int(outcome)
        ext.conversion(form["order"], paid, "EUR", customer_id=form.get("customer"))
        return {"paid": f"{paid:.2f}", "discount": f"{claim.discount:.2f}"}


@pytest.fixture
def app(make_shop: MakeShop) -> Flask:
    shop = make_shop(rules=RULES)
    add_discount_views(shop, state_of(shop).extension)  # type: ignore[arg-type]
    return shop


@pytest.fixture
def referred(app: Flask) -> str:
    """bob signed up through alice's link."""
    program_of(app).attribute("bob", code_of(app, "alice"))
    return "bob"


def pay(client: FlaskClient, order: str, **form: str) -> Any:
    return client.post("/pay", data={"order": order, **form}, headers={"X-User": "bob"})


# -- refkit.offer ---------------------------------------------------------------------------


def test_offer_for_the_logged_in_referred_customer(
    app: Flask, client: FlaskClient, referred: str
) -> None:
    answer = client.get("/cart?amount=40", headers={"X-User": referred}).get_json()
    assert answer == {"discount": "5.00", "reasons": ["discount_offered"]}


def test_offer_for_a_customer_nobody_referred_is_zero(app: Flask, client: FlaskClient) -> None:
    answer = client.get("/cart", headers={"X-User": "dave"}).get_json()
    assert answer["discount"] == "0.00"
    assert "not_referred" in answer["reasons"]


def test_offer_for_a_guest_follows_the_referral_cookie(app: Flask, client: FlaskClient) -> None:
    assert client.get("/cart").get_json()["discount"] == "0.00"
    client.get(f"/r/{code_of(app, 'alice')}")
    assert client.get("/cart").get_json() == {"discount": "5.00", "reasons": ["discount_offered"]}
    assert program_of(app).referral_for("refkit-guest:anonymous") is None  # stored nothing


def test_a_storage_failure_means_no_discount_not_an_error_page(
    app: Flask, client: FlaskClient, referred: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with sqlite3.connect(tmp_path / "shop.db") as database:
        database.execute("DROP TABLE refkit_discount_claims")
    caplog.set_level(logging.ERROR, "refkit.flask")
    response = pay(client, "o1")
    assert response.status_code == 200
    assert response.get_json() == {"paid": "40.00", "discount": "0.00"}
    assert any(isinstance(r.exc_info[1], refkit.StorageError) for r in caplog.records if r.exc_info)


def test_offer_outside_a_request_needs_an_explicit_customer(
    app: Flask, ext: RefKit, referred: str
) -> None:
    with app.app_context():
        offer = ext.offer("40", "eur", customer_id=referred)
    assert (offer.discount, offer.currency, offer.referrer_id) == (Decimal("5.00"), "EUR", "alice")


# -- refkit.claim_discount ------------------------------------------------------------------


def test_a_paid_checkout_uses_the_discount_and_records_the_amount_paid(
    app: Flask, client: FlaskClient, referred: str
) -> None:
    assert pay(client, "o1").get_json() == {"paid": "35.00", "discount": "5.00"}
    program = program_of(app)
    conversion = program.conversion("o1")
    assert conversion is not None
    assert conversion.amount == Decimal("35.00")
    discounts = [r for r in conversion.rewards if r.kind == "discount"]
    assert [(r.beneficiary_id, r.value, r.status) for r in discounts] == [
        (referred, Decimal("5.00"), "redeemed")
    ]
    assert pay(client, "o2").get_json()["discount"] == "0.00"  # used: once per referee


@pytest.mark.parametrize("outcome", ["400", "402", "500"])
def test_a_failed_checkout_releases_the_claim(
    app: Flask, client: FlaskClient, referred: str, outcome: str
) -> None:
    assert pay(client, "o1", outcome=outcome).status_code == int(outcome)
    assert program_of(app).conversion("o1") is None
    assert pay(client, "o2").get_json() == {"paid": "35.00", "discount": "5.00"}


def test_a_checkout_that_raises_releases_the_claim(
    app: Flask, client: FlaskClient, referred: str
) -> None:
    with pytest.raises(RuntimeError, match="payment provider"):
        pay(client, "o1", outcome="raise")
    assert pay(client, "o2").get_json() == {"paid": "35.00", "discount": "5.00"}


def test_a_claim_outside_a_tracked_view_is_kept(app: Flask, ext: RefKit, referred: str) -> None:
    with app.test_request_context("/job"):
        claim = ext.claim_discount("o1", "40", "EUR", customer_id=referred)
    assert (claim.discount, claim.order_id) == (Decimal("5.00"), "o1")
    with app.test_request_context("/job"):
        again = ext.claim_discount("o2", "40", "EUR", customer_id=referred)
    assert again.discount == 0
    assert "discount_already_claimed" in again.reasons


def test_a_guest_claims_through_the_cookie(app: Flask, client: FlaskClient) -> None:
    client.get(f"/r/{code_of(app, 'alice')}")
    answer = client.post("/pay", data={"order": "g1", "customer": "guest-7"}).get_json()
    assert answer == {"paid": "35.00", "discount": "5.00"}
    assert program_of(app).conversion("g1").referrer_id == "alice"  # type: ignore[union-attr]


def test_claim_without_any_customer_is_no_discount_and_logged(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    app.config["REFKIT_RAISE_ERRORS"] = False
    fresh = browser(app)
    caplog.set_level(logging.ERROR, "refkit.flask")
    response = fresh.post("/pay", data={"order": "o1", "outcome": "402"})
    assert response.status_code == 402
    assert any("needs customer_id" in r.getMessage() or r.exc_info for r in caplog.records)


# -- GET /refkit/api/offer ------------------------------------------------------------------


def test_api_offer_for_the_logged_in_referee(
    app: Flask, client: FlaskClient, referred: str
) -> None:
    response = client.get("/refkit/api/offer?amount=40&currency=EUR", headers={"X-User": referred})
    body = response.get_json()
    assert response.status_code == 200
    assert (body["discount"], body["total"], body["reasons"]) == ("5", "35", ["discount_offered"])
    assert "referrer" not in str(body)  # never says whose code it is


def test_api_offer_for_a_guest_follows_the_cookie(app: Flask, client: FlaskClient) -> None:
    assert client.get("/refkit/api/offer?amount=40&currency=EUR").get_json()["discount"] == "0"
    client.get(f"/r/{code_of(app, 'alice')}")
    body = client.get("/refkit/api/offer?amount=40.00&currency=EUR").get_json()
    assert (body["discount"], body["total"]) == ("5", "35.00")
    pay(client, "o1")  # bob (logged in, already referred) is not this guest
    assert client.get("/refkit/api/offer?amount=40&currency=EUR").get_json()["discount"] == "5"


def test_api_offer_after_the_referee_used_the_discount(
    app: Flask, client: FlaskClient, referred: str
) -> None:
    pay(client, "o1")
    body = client.get(
        "/refkit/api/offer?amount=40&currency=EUR", headers={"X-User": referred}
    ).get_json()
    assert body["discount"] == "0"
    assert "discount_offered" not in body["reasons"]


def test_api_offer_with_a_revoked_cookie_code_is_no_discount(
    app: Flask, client: FlaskClient
) -> None:
    client.get(f"/r/{code_of(app, 'alice')}")
    program_of(app).revoke_code("alice")
    body = client.get("/refkit/api/offer?amount=40&currency=EUR").get_json()
    assert (body["discount"], body["reasons"]) == ("0", ["code_revoked"])
