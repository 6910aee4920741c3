"""The friend's discount in a Flask checkout: offer -> claim -> pay -> convert."""

from decimal import Decimal
from typing import Any

from flask import Flask, request, session

import refkit
from refkit_flask import RefKit

app = Flask(__name__)
app.config.update(SECRET_KEY="dev-only-flask-secret", REFKIT_DATABASE_URL="memory://")
app.config["REFKIT_SECRET_KEY"] = "dev-only-refkit-secret-0123456789abcdef"
referrals = RefKit(
    app,
    rules=refkit.RewardRules(
        currency="EUR",
        referrer_reward=refkit.Reward.percent(10),
        referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
    ),
)
referrals.user_loader(lambda: session.get("user"))


def charge(amount: Decimal, card: str) -> bool:  # your payment provider
    return card != "declined"


@app.get("/cart")
def cart() -> dict[str, Any]:
    offer = referrals.offer(Decimal("40.00"), "EUR")  # the logged-in customer, or the cookie
    return {"discount": str(offer.discount), "total": str(Decimal("40.00") - offer.discount)}


@app.post("/pay")
@referrals.track_conversion  # a failed payment (>= 400, or raising) releases the claim
def pay() -> Any:
    order_id, total = request.form["order"], Decimal("40.00")
    claim = referrals.claim_discount(order_id, total, "EUR")  # reserved for this order
    paid = total - claim.discount
    if not charge(paid, request.form["card"]):
        return {"error": "card declined"}, 402  # the claim is released after the view
    referrals.conversion(order_id, paid, "EUR")  # the amount paid, after the discount
    return {"paid": str(paid)}


with app.app_context():
    program = referrals.program
    program.attribute("bob", program.code_for("alice"))  # bob signed up through alice's link
client = app.test_client()
with client.session_transaction() as browser_session:
    browser_session["user"] = "bob"

assert client.get("/cart").get_json() == {"discount": "5", "total": "35.00"}
declined = client.post("/pay", data={"order": "o-1", "card": "declined"})
assert declined.status_code == 402  # and the discount is free again
assert client.post("/pay", data={"order": "o-2", "card": "ok"}).get_json() == {"paid": "35.00"}
with app.app_context():
    conversion = program.conversion("o-2")
assert conversion is not None and conversion.amount == Decimal("35.00")
assert client.get("/cart").get_json()["discount"] == "0"  # once per friend
