"""``RefKit(app, session=db.session)``: a Flask-SQLAlchemy shop whose order and conversion (or
new user and referral) commit together, on an SQLite file and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import create_engine, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import refkit
from refkit_flask import RefKit, signals

from .support.settings import SECRET, clean_postgres

flask_sqlalchemy = pytest.importorskip("flask_sqlalchemy", reason="the docs extra installs it")

RULES = refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"))


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "joined_shop_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(unique=True)


class User(Base):
    __tablename__ = "joined_shop_users"
    id: Mapped[str] = mapped_column(primary_key=True)


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shop.db'}"
        return
    url: str = request.getfixturevalue("postgres_database")
    clean_postgres(url)
    yield url
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS joined_shop_orders, joined_shop_users"))
    engine.dispose()


def make_joined_shop(
    url: str,
    tmp_path: Path,
    clock: refkit.FrozenClock,
    rules: refkit.RewardRules = RULES,
    **config: Any,
) -> tuple[Flask, Any, RefKit]:
    db = flask_sqlalchemy.SQLAlchemy(model_class=Base)
    app = Flask("joined", instance_path=str(tmp_path / "instance"))
    app.config.update(
        TESTING=True,
        SECRET_KEY=SECRET,
        SQLALCHEMY_DATABASE_URI=url,
        REFKIT_RULES=rules,
        REFKIT_CLOCK=clock,
        **config,
    )
    db.init_app(app)
    ext = RefKit(store=lambda app: db.engine, session=db.session)
    ext.init_app(app)

    @app.post("/checkout")
    @ext.track_conversion
    def checkout() -> tuple[str, int]:
        form = request.form
        db.session.add(Order(number=form["number"]))
        ext.conversion(form["number"], form["amount"], "EUR", customer_id=form["customer"])
        if form.get("fail") == "raise":
            raise RuntimeError("the payment provider is down")
        db.session.commit()
        return "thanks", 200

    @app.post("/pay")
    @ext.track_conversion
    def pay() -> tuple[str, int]:
        form = request.form
        db.session.add(Order(number=form["number"]))
        claim = ext.claim_discount(form["number"], "40", "EUR", customer_id="bob")
        if form.get("fail") == "raise":
            raise RuntimeError("the payment provider is down")
        if form.get("fail") == "declined":
            db.session.commit()  # the shop keeps its failed order, then answers 402
            return "declined", 402
        ext.conversion(form["number"], Decimal(40) - claim.discount, "EUR", customer_id="bob")
        db.session.commit()
        return str(claim.discount), 200

    @app.post("/signup")
    def signup() -> tuple[str, int]:
        db.session.add(User(id=request.form["user"]))
        ext.attribute_signup(request.form["user"])
        if request.form.get("fail") == "raise":
            raise RuntimeError("the welcome email failed")
        db.session.commit()
        return "welcome", 200

    with app.app_context():
        Base.metadata.create_all(db.engine)
        ext.program.create_all()
        ext.program.attribute("bob", ext.program.code_for("alice"))
    return app, db, ext


@pytest.fixture
def shop(database_url: str, tmp_path: Path, clock: refkit.FrozenClock) -> Iterator[Any]:
    app, db, ext = make_joined_shop(database_url, tmp_path, clock)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crashing view answers 500
    yield app, db, ext
    with app.app_context():
        Base.metadata.drop_all(db.engine)
        db.engine.dispose()


def _orders(app: Flask, db: Any) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(db.select(Order.number).order_by(Order.number)))


def test_an_exception_after_conversion_rolls_back_the_order_and_the_conversion(
    shop: Any,
) -> None:
    app, db, ext = shop
    fired: list[object] = []
    signals.conversion_recorded.connect(lambda _sender, record: fired.append(record), app)
    answer = app.test_client().post(
        "/checkout", data={"number": "A-1", "amount": "50", "customer": "bob", "fail": "raise"}
    )
    assert answer.status_code == 500
    assert _orders(app, db) == []
    with app.app_context():
        assert ext.program.conversion("A-1") is None
        assert ext.program.rewards() == []
    assert fired == []


def test_a_checkout_commits_both_and_signals_follow_the_commit(shop: Any) -> None:
    app, db, ext = shop
    seen_committed: list[bool] = []

    def on_reward(_sender: Flask, record: refkit.EarnedReward) -> None:
        # Another connection sees the order: the signal came after the shop's commit.
        with db.engine.connect() as connection:
            count = connection.execute(text("SELECT count(*) FROM joined_shop_orders")).scalar()
        seen_committed.append(count == 1 and record.beneficiary_id == "alice")

    signals.reward_created.connect(on_reward, app)
    answer = app.test_client().post(
        "/checkout", data={"number": "A-1", "amount": "50", "customer": "bob"}
    )
    assert answer.status_code == 200
    assert _orders(app, db) == ["A-1"]
    with app.app_context():
        conversion = ext.program.conversion("A-1")
        assert conversion is not None
        assert conversion.referrer_id == "alice"
    assert seen_committed == [True]


def test_a_refused_conversion_leaves_the_shops_order_to_commit(
    database_url: str, tmp_path: Path, clock: refkit.FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    app, db, ext = make_joined_shop(database_url, tmp_path, clock, REFKIT_RAISE_ERRORS=False)
    with app.app_context():
        ext.program.record_conversion("A-1", "bob", "50", "EUR")
    client = app.test_client()
    # refkit knows order A-1 with 50.00: 99.00 is a ConflictError, logged; refkit's savepoint
    # is rolled back and the shop's transaction goes on to commit its order.
    answer = client.post("/checkout", data={"number": "A-1", "amount": "99", "customer": "bob"})
    assert answer.status_code == 200
    assert "was recorded with amount" in caplog.text
    assert _orders(app, db) == ["A-1"]
    with app.app_context():
        stored = ext.program.conversion("A-1")
        assert stored is not None
        assert stored.amount == Decimal("50")
        Base.metadata.drop_all(db.engine)
        db.engine.dispose()


def test_a_signup_that_fails_binds_nobody_and_one_that_commits_binds(shop: Any) -> None:
    app, _db, ext = shop
    with app.app_context():
        code = ext.program.code_for("alice")
    client = app.test_client()
    client.get(f"/r/{code}")
    assert client.post("/signup", data={"user": "carol", "fail": "raise"}).status_code == 500
    with app.app_context():
        assert ext.program.referral_for("carol") is None
    assert client.post("/signup", data={"user": "carol"}).status_code == 200
    with app.app_context():
        referral = ext.program.referral_for("carol")
        assert referral is not None
        assert referral.referrer_id == "alice"


def test_refkit_session_config_key_and_a_bad_value(
    tmp_path: Path, clock: refkit.FrozenClock
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    app, db, ext = make_joined_shop(url, tmp_path, clock)
    with app.app_context():
        assert ext.program is not None
    keyed = Flask("keyed", instance_path=str(tmp_path / "keyed"))
    keyed.config.update(SECRET_KEY=SECRET, REFKIT_DATABASE_URL=url, REFKIT_SESSION=db.session)
    RefKit(keyed)
    assert keyed.extensions["refkit"].settings.session is db.session
    bad = Flask("bad", instance_path=str(tmp_path / "bad"))
    bad.config.update(SECRET_KEY=SECRET, REFKIT_DATABASE_URL=url)
    with pytest.raises(refkit.ConfigurationError, match="REFKIT_SESSION"):
        RefKit(bad, session="db.session")
    with app.app_context():
        db.engine.dispose()


DISCOUNT_RULES = refkit.RewardRules(
    currency="EUR",
    referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),
)


@pytest.mark.parametrize("fail", ["raise", "declined"])
def test_a_failed_checkout_frees_the_discount_claimed_in_the_session(
    database_url: str, tmp_path: Path, clock: refkit.FrozenClock, fail: str
) -> None:
    app, db, ext = make_joined_shop(database_url, tmp_path, clock, DISCOUNT_RULES)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        client = app.test_client()
        failed = client.post("/pay", data={"number": "A-1", "fail": fail})
        assert failed.status_code == (500 if fail == "raise" else 402)
        paid = client.post("/pay", data={"number": "A-2"})
        assert (paid.status_code, Decimal(paid.text)) == (200, Decimal(5))
        assert Decimal(client.post("/pay", data={"number": "A-3"}).text) == 0  # used once
        with app.app_context():
            conversion = ext.program.conversion("A-2")
            assert conversion is not None
            assert conversion.amount == Decimal("35")
            assert ext.program.conversion("A-1") is None
    finally:
        with app.app_context():
            Base.metadata.drop_all(db.engine)
            db.engine.dispose()
