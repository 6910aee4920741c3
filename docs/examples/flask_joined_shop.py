"""One transaction with the shop's order: the order and its conversion commit together."""

from decimal import Decimal

from flask import Flask, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column

import refkit
from refkit_flask import RefKit, signals

db = SQLAlchemy()
referrals = RefKit(store=lambda app: db.engine, session=db.session)


class Order(db.Model):  # type: ignore[name-defined,misc]
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(unique=True)
    customer: Mapped[str]
    total: Mapped[Decimal]


def create_app() -> Flask:
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="dev only: 32+ random characters!",
        SQLALCHEMY_DATABASE_URI="sqlite:///joined-shop.db",  # or postgresql+psycopg://...
        REFKIT_RULES=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR")),
    )
    db.init_app(app)
    referrals.init_app(app)

    @app.post("/checkout")
    @referrals.track_conversion
    def checkout() -> tuple[str, int]:
        customer = request.form["customer"]
        order = Order(number=request.form["number"], customer=customer, total=request.form["total"])
        db.session.add(order)
        referrals.conversion(order.number, order.total, "EUR", customer_id=customer)
        if request.form.get("card") == "declined":
            raise RuntimeError("the payment failed")  # neither the order nor the conversion
        db.session.commit()  # the order and its conversion, together
        return "thanks", 200

    return app


app = create_app()
with app.app_context():
    db.create_all()
    referrals.program.create_all()
    referrals.program.attribute("bob", referrals.program.code_for("alice"))

recorded: list[str] = []


@signals.conversion_recorded.connect_via(app)
def on_conversion(sender: Flask, record: refkit.Conversion) -> None:
    recorded.append(record.order_id)


client = app.test_client()
app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash answers 500, as in production
declined = {"number": "A-1", "customer": "bob", "total": "50", "card": "declined"}
assert client.post("/checkout", data=declined).status_code == 500
paid = {"number": "A-2", "customer": "bob", "total": "50"}
assert client.post("/checkout", data=paid).status_code == 200
with app.app_context():
    assert db.session.scalars(db.select(Order.number)).all() == ["A-2"]
    assert referrals.program.conversion("A-1") is None  # rolled back with its order
    assert [r.order_id for r in referrals.program.rewards()] == ["A-2"]
assert recorded == ["A-2"]  # the signal followed the commit; nothing for the rollback
