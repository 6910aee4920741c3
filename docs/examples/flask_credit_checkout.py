"""Spending credit at a Flask checkout: redeem with the order id as the reference."""

from decimal import Decimal
from typing import Any

from flask import Flask, request, session

import refkit
from refkit_flask import RefKit

app = Flask(__name__)
app.config.update(SECRET_KEY="dev-only-flask-secret", REFKIT_DATABASE_URL="memory://")
app.config["REFKIT_SECRET_KEY"] = "dev-only-refkit-secret-0123456789abcdef"
referrals = RefKit(app, rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(10, "EUR")))
referrals.user_loader(lambda: session.get("user"))


@app.post("/pay")
@referrals.track_conversion
def pay() -> Any:
    order_id, total, user = request.form["order"], Decimal("25.00"), session["user"]
    program = referrals.program
    use = min(program.balance(user, "EUR"), total) if request.form.get("use_credit") else 0
    if use:  # idempotent by the order id: a retried checkout spends it once
        program.redeem(user, use, "EUR", reference=order_id)
    referrals.conversion(order_id, total, "EUR")  # credit is a way of paying: the full total
    return {"charged": str(total - use), "credit_used": str(use)}


with app.app_context():
    program = referrals.program
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("30.00"), "EUR")
    program.approve_due()  # alice's 10.00 (no hold period in these rules)
client = app.test_client()
with client.session_transaction() as browser_session:
    browser_session["user"] = "alice"

answer = client.post("/pay", data={"order": "o-2", "use_credit": "1"}).get_json()
assert answer == {"charged": "15.00", "credit_used": "10.00"}
with app.app_context():
    assert program.balance("alice", "EUR") == 0
    assert program.stats_for("alice").balance == 0  # the dashboard and /refkit/api/me follow
