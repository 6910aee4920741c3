"""A small existing shop in the style of many open-source Flask shops (Flask-Login,
Flask-SQLAlchemy, prices as ``db.Float``), with refkit added as docs/integrate.rst says.

docs/integrate.rst shows this file's parts (``literalinclude`` with ``:pyobject:``); every line
refkit needs is marked ``# refkit:``, the rest is the shop as it was. The tests of
docs/examples/test_integrate.py run against it (tests/test_integrate_docs.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template_string, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_required, login_user
from flask_sqlalchemy import SQLAlchemy
from werkzeug.wrappers import Response

import refkit
from refkit_flask import RefKit

db = SQLAlchemy()
login_manager = LoginManager()
referrals = RefKit()  # refkit: one extension object, set up in create_app


class User(db.Model, UserMixin):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    email = db.Column(db.String(255), unique=True, nullable=False)
    is_admin = db.Column(db.Boolean, default=False, nullable=False)


class Product(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(80), nullable=False)
    price = db.Column(db.Float, nullable=False)  # what many shops have: a float


class Order(db.Model):  # type: ignore[name-defined,misc]
    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(db.Integer, db.ForeignKey("user.id"), nullable=False)
    total = db.Column(db.Float, nullable=False)
    paid = db.Column(db.Boolean, default=False, nullable=False)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return db.session.get(User, int(user_id))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="dev only: replace with 32+ random characters",
        SQLALCHEMY_DATABASE_URI="sqlite:///shop.db",
        REFKIT_RULES=refkit.RewardRules(  # refkit: what a referral earns
            referrer_reward=refkit.Reward.percent(10),
            referee_reward=refkit.Reward.fixed(5, "EUR"),
            hold_period=timedelta(days=14),
        ),
    )
    app.config.update(config or {})
    db.init_app(app)
    login_manager.init_app(app)
    referrals.init_app(app)  # refkit: after db and login_manager
    app.register_blueprint(shop)
    with app.app_context():
        db.create_all()
        if db.session.get(Product, 1) is None:
            db.session.add(Product(id=1, name="Coffee beans", price=24.0))
            db.session.add(Product(id=2, name="Mug", price=9.99))
            db.session.commit()
    return app


@referrals.admin_check  # refkit: who may open /refkit/admin
def is_admin() -> bool:
    return bool(current_user.is_authenticated and current_user.is_admin)


shop = Blueprint("shop", __name__)

PAGE = """<p>{{ current_user.email if current_user.is_authenticated else "Welcome" }}</p>
{% if current_user.is_authenticated %}
{# refkit: the logged-in customer's share link #}
<p>Invite friends: <a href="{{ refkit_link() }}">{{ refkit_link() }}</a></p>
{% endif %}"""


@shop.get("/")
def home() -> str:
    return render_template_string(PAGE)


@shop.post("/signup")
def signup() -> Response:
    user = User(email=request.form["email"].strip().lower())
    db.session.add(user)
    db.session.commit()
    login_user(user)
    referrals.attribute_signup(user.id, email=user.email)  # refkit: bind to the referrer, if any
    return redirect(url_for("shop.home"))


@shop.post("/checkout")
@login_required
@referrals.track_conversion  # refkit: record only if the checkout answers below 400
def checkout() -> Response | tuple[str, int]:
    product = db.session.get(Product, int(request.form["product"]))
    if product is None:
        abort(404)
    order = Order(user_id=current_user.id, total=product.price * int(request.form["quantity"]))
    db.session.add(order)
    db.session.commit()
    if request.form.get("card") == "declined":
        return "Your card was declined.", 402  # nothing recorded: the answer is 400 or more
    order.paid = True
    db.session.commit()
    referrals.conversion(order.id, order.total, "EUR")  # refkit: last, once the order is paid
    return redirect(url_for("shop.home"))
