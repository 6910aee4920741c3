"""shop.py: a Flask shop with a double-sided referral program (the Quickstart, whole).

Run it with ``flask --app shop run --debug`` and open http://127.0.0.1:5000/.
"""

from __future__ import annotations

import os
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template_string, request, session

from refkit import Reward, RewardRules
from refkit_flask import RefKit

referrals = RefKit()
shop = Blueprint("shop", __name__)
PRODUCTS = {"beans": Decimal("24.00"), "mug": Decimal("9.50")}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        # refkit signs codes and cookies with SECRET_KEY (or REFKIT_SECRET_KEY).
        SECRET_KEY=os.environ.get("SHOP_SECRET_KEY", "dev only: set 32+ random characters"),
        REFKIT_RULES=RewardRules(
            referrer_reward=Reward.percent(10, cap=Decimal("20")),  # 10% of the order, <= 20
            referee_reward=Reward.fixed(Decimal("5"), "EUR"),  # 5 EUR for the new customer
            min_order_amount=Decimal("10"),
            hold_period=timedelta(days=14),  # the refund window
        ),
        # Default store: SQLite in the instance folder. In production, for example:
        # REFKIT_DATABASE_URL="postgresql+psycopg://shop:secret@localhost/shop",
    )
    app.config.update(config or {})
    referrals.init_app(app)  # adds /r/<code>, ?ref= capture, /refkit/api/..., flask refkit
    app.register_blueprint(shop)
    return app


@referrals.user_loader
def current_user_id() -> str | None:
    """Who is logged in: your shop's login (Flask-Login is used when it is installed)."""
    return session.get("user_id")


@referrals.admin_check
def is_admin() -> bool:
    """Who may open the dashboard at /refkit/admin (nobody, without this)."""
    return current_user_id() == "owner@example.com"


PAGE = """
<h1>Coffee shop</h1>
{% if user %}
  <p>Hello {{ user }}. Invite friends: <a href="{{ refkit_link() }}">{{ refkit_link() }}</a>
  ({{ stats.conversions }} bought, {{ stats.rewards["pending"] }} EUR pending,
  {{ stats.balance }} EUR earned)</p>
  {% for name, price in products.items() %}
    <form method="post" action="/checkout"><button name="product" value="{{ name }}">
      Buy {{ name }} ({{ price }} EUR)</button></form>
  {% endfor %}
{% else %}
  <form method="post" action="/signup">
    <input name="email" placeholder="email"> <button>Sign up</button></form>
{% endif %}
"""


@shop.get("/")
def home() -> str:
    user = current_user_id()
    stats = referrals.program.stats_for(user) if user else None
    return render_template_string(PAGE, user=user, stats=stats, products=PRODUCTS)


@shop.post("/signup")
def signup() -> Any:
    user_id = request.form["email"].strip().lower()  # your shop creates the account here
    session["user_id"] = user_id
    referrals.attribute_signup(user_id)  # binds the referral the visitor arrived with
    return redirect("/")


@shop.post("/checkout")
@referrals.track_conversion  # records the conversion only if the view succeeds
def checkout() -> Any:
    if current_user_id() is None:
        abort(401)
    price = PRODUCTS[request.form["product"]]
    order_id = uuid.uuid4().hex  # your order's id: recording it twice changes nothing
    referrals.conversion(order_id=order_id, amount=price, currency="EUR")
    return redirect("/")
