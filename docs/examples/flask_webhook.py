"""A payment webhook and a signal, added to the Quickstart's shop."""

from decimal import Decimal
from typing import Any

from flask import request
from shop import create_app, referrals

from refkit import EarnedReward
from refkit_flask import signals

app = create_app()
outbox: list[str] = []  # your mailer


@app.post("/webhooks/payment")
def payment_succeeded() -> tuple[str, int]:
    event = request.get_json()  # verify the payment provider's signature first!
    referrals.conversion(  # outside @track_conversion: recorded at once
        order_id=event["order_id"],
        amount=Decimal(event["amount"]),
        currency=event["currency"],  # "eur" is fine: stored as "EUR"
        customer_id=event["customer_id"],
    )
    return "", 204


@signals.reward_created.connect_via(app)
def tell_the_beneficiary(sender: Any, record: EarnedReward) -> None:
    outbox.append(f"{record.beneficiary_id}: you earned {record.value} {record.currency}")


with app.app_context():
    referrals.program.attribute("bob@example.com", referrals.program.code_for("alice@example.com"))
client = app.test_client()
event = {
    "order_id": "pi_3Nx",
    "amount": "30.00",
    "currency": "eur",
    "customer_id": "bob@example.com",
}
assert client.post("/webhooks/payment", json=event).status_code == 204
assert client.post("/webhooks/payment", json=event).status_code == 204  # a retry: no change
assert outbox == ["alice@example.com: you earned 3.00 EUR", "bob@example.com: you earned 5.00 EUR"]
