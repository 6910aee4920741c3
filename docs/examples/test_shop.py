"""test_shop.py: test the shop's referral flow with pytest and refkit_flask.testing."""

from decimal import Decimal
from pathlib import Path

from shop import create_app

from refkit_flask.testing import frozen_program_clock, referral_client


def test_a_friend_who_buys_earns_both_rewards(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "REFKIT_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"})
    with frozen_program_clock(app) as clock:
        friend = referral_client(app, referrer_id="alice")  # arrived through alice's link
        friend.post("/signup", data={"email": "bob@example.com"})
        clock.advance(minutes=5)  # a purchase within a minute of the click is flagged
        friend.post("/checkout", data={"product": "beans"})

        program = app.extensions["refkit"].program
        assert program.referral_for("bob@example.com").referrer_id == "alice"
        assert program.stats_for("alice").rewards["pending"] == Decimal("2.40")

        clock.advance(days=14)  # the hold period is over
        result = app.test_cli_runner().invoke(args=["refkit", "approve"])
        assert "approved 2 rewards" in result.output
        assert program.stats_for("alice").balance == Decimal("2.40")
