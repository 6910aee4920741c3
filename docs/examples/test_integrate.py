"""test_referrals.py: the shop's own tests of its refkit lines (pytest, refkit_flask.testing).

``create_app`` is the shop's app factory; the tests use a fresh SQLite file for the shop and
an in-memory store for refkit.
"""

from decimal import Decimal
from pathlib import Path

import pytest
from shop import create_app

import refkit
from refkit_flask.testing import frozen_program_clock, referral_client


@pytest.fixture
def app(tmp_path: Path):  # type: ignore[no-untyped-def]
    app = create_app(
        {
            "TESTING": True,  # a mistake in a refkit call (a bad amount) raises here
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/shop.db",
            "REFKIT_DATABASE_URL": "memory://",
        }
    )
    app.test_client().post("/signup", data={"email": "alice@example.com"})  # user 1
    return app


def test_a_friend_who_buys_earns_the_referrer_ten_percent(app) -> None:  # type: ignore[no-untyped-def]
    with frozen_program_clock(app) as clock:
        friend = referral_client(app, referrer_id=1)  # arrived through alice's link
        friend.post("/signup", data={"email": "bob@example.com"})
        clock.advance(minutes=5)  # a purchase within a minute of the click is flagged
        answer = friend.post("/checkout", data={"product": 2, "quantity": 3})
        assert answer.status_code == 302  # a redirect after the order: recorded

        program = app.extensions["refkit"].program
        conversion = program.conversion(1)  # the shop's order 1
        assert conversion.customer_id == "2"  # bob, user 2 (ids are stored as str)
        assert conversion.amount == Decimal("29.97")  # 3 x 9.99 as a float, to the cent
        assert program.stats_for(1).rewards["pending"] == Decimal("3.00")

        clock.advance(days=14)  # the hold period is over
        result = app.test_cli_runner().invoke(args=["refkit", "approve"])
        assert "approved 2 rewards" in result.output


def test_a_declined_card_records_nothing(app) -> None:  # type: ignore[no-untyped-def]
    friend = referral_client(app, referrer_id=1)
    friend.post("/signup", data={"email": "carol@example.com"})
    answer = friend.post("/checkout", data={"product": 1, "quantity": 1, "card": "declined"})
    assert answer.status_code == 402
    assert app.extensions["refkit"].program.stats_for(1).conversions == 0


def test_a_bad_amount_fails_the_test_instead_of_vanishing(app) -> None:  # type: ignore[no-untyped-def]
    referrals = app.extensions["refkit"].extension
    with app.test_request_context(), pytest.raises(refkit.ValidationError, match="amount"):
        referrals.conversion("o-1", float("nan"), "EUR", customer_id="1")
