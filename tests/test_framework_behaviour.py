"""What the Flask extension and the Django app both do, as one suite: each test runs on
Flask and on Django (the shops of :mod:`tests.support.frameworks`), on memory, an SQLite file
and PostgreSQL.

Capture (``?ref=``, ``/r/<code>``, the signed first-touch cookie, bots, HEAD, one visit per
visitor and day), signup, checkout, offers and the dashboard. What only one framework has
(Flask's JSON API beyond the offer, Django's ``transaction.on_commit``...) stays in that
framework's own tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

import refkit
from tests.support.frameworks import (
    DJANGO,
    FLASK,
    RULES,
    DjangoShop,
    Shop,
    flask_shop,
    unique,
)

BOT = "facebookexternalhit/1.1"
#: The dashboard's panels, in both frameworks (the core's page).
PANELS = ("refkit-funnel", "refkit-money", "refkit-leaders", "refkit-due", "refkit-flagged")


@pytest.fixture(params=[FLASK, DJANGO])
def shop(
    request: pytest.FixtureRequest, store_url: str, clock: refkit.FrozenClock, tmp_path: Path
) -> Iterator[Shop]:
    """The shop on each framework, with :data:`RULES`, on the test's store and clock."""
    if request.param == FLASK:
        with flask_shop(tmp_path, store_url, clock) as flask:
            yield flask
        return
    configure = request.getfixturevalue("django_refkit")
    yield DjangoShop(configure(RULES=RULES))


# -- capture -------------------------------------------------------------------------------


def test_ref_counts_a_visit_and_sets_a_signed_cookie(shop: Shop) -> None:
    code = shop.program.code_for("alice")
    friend = shop.browser()
    assert friend.get("/", ref=code.lower()) == 200  # codes are case-insensitive
    assert shop.captured(friend) == code
    assert shop.program.stats_for("alice").visits == 1


def test_an_invalid_code_sets_no_cookie_and_counts_nothing(shop: Shop) -> None:
    stranger = shop.browser()
    assert stranger.get("/", ref="not-a-code") == 200
    assert stranger.get("/r/not-a-code") == 302
    assert stranger.cookie() is None


def test_the_landing_route_captures_and_redirects(shop: Shop) -> None:
    code = shop.program.code_for("alice")
    friend = shop.browser()
    assert friend.get(f"/r/{code}") == 302
    assert shop.captured(friend) == code
    assert shop.program.stats_for("alice").visits == 1


def test_a_second_link_does_not_override_the_first_touch(shop: Shop) -> None:
    alice, bob = shop.program.code_for("alice"), shop.program.code_for("bob")
    friend = shop.browser()
    friend.get("/", ref=alice)
    friend.get("/", ref=bob)
    assert shop.captured(friend) == alice
    assert shop.program.stats_for("bob").visits == 1  # the visit counts, the cookie stays


def test_a_forged_cookie_does_not_block_a_new_capture(shop: Shop) -> None:
    code = shop.program.code_for("alice")
    friend = shop.browser()
    friend.set_cookie("forged.value")
    friend.get("/", ref=code)
    assert shop.captured(friend) == code
    assert shop.program.stats_for("alice").visits == 1


def test_head_requests_count_no_visit_and_set_no_cookie(shop: Shop) -> None:
    peek = shop.browser()
    assert peek.head("/", ref=shop.program.code_for("alice")) == 200
    assert peek.cookie() is None
    assert shop.program.stats_for("alice").visits == 0


def test_link_preview_bots_count_no_visit_and_set_no_cookie(shop: Shop) -> None:
    bot = shop.browser(BOT)
    bot.get("/", ref=shop.program.code_for("alice"))
    assert bot.cookie() is None
    assert shop.program.stats_for("alice").visits == 0


def test_one_visit_per_visitor_code_and_day(shop: Shop, clock: refkit.FrozenClock) -> None:
    code = shop.program.code_for("alice")
    friend = shop.browser()
    friend.get("/", ref=code)
    friend.get("/", ref=code)
    assert shop.program.stats_for("alice").visits == 1
    clock.advance(timedelta(days=1))
    friend.get("/", ref=code)
    assert shop.program.stats_for("alice").visits == 2
    shop.browser().get("/", ref=code)  # another visitor
    assert shop.program.stats_for("alice").visits == 3


# -- signup --------------------------------------------------------------------------------


def test_a_signup_binds_the_captured_referral(shop: Shop) -> None:
    friend = shop.browser()
    friend.get("/", ref=shop.program.code_for("alice"))
    bob, referrer = friend.signup(unique("bob"))
    assert referrer == "alice"
    referral = shop.program.referral_for(bob)
    assert referral is not None
    assert referral.referrer_id == "alice"


def test_a_signup_without_a_link_binds_nothing(shop: Shop) -> None:
    carol, referrer = shop.browser().signup(unique("carol"))
    assert referrer is None
    assert shop.program.referral_for(carol) is None


def test_a_signup_clears_the_cookie_so_the_next_signup_here_is_not_attributed(
    shop: Shop,
) -> None:
    shared = shop.browser()
    shared.get("/", ref=shop.program.code_for("alice"))
    shared.signup(unique("bob"))
    assert shared.cookie() is None
    _, referrer = shared.signup(unique("carol"))
    assert referrer is None


def test_the_clicks_fingerprint_reaches_the_referral(shop: Shop) -> None:
    friend = shop.browser()  # the clock is frozen: the purchase comes at the click's time
    friend.get("/", ref=shop.program.code_for("alice"))
    bob, _ = friend.signup(unique("bob"))
    friend.checkout(unique("o"), "30.00")
    flagged = shop.program.flagged_referrals()
    assert [f.referee_id for f in flagged] == [bob]
    assert "fast_purchase" in flagged[0].reasons


def test_a_second_account_on_the_same_mailbox_cannot_refer_itself(shop: Shop) -> None:
    name = unique("alice")
    first, _ = shop.browser().signup(name, f"{name}@example.com")
    again = shop.browser()
    again.get("/", ref=shop.program.code_for(first))
    second, referrer = again.signup(unique("alice2"), f"{name}+shop@Example.com")
    assert referrer is None
    assert shop.program.referral_for(second) is None


# -- checkout ------------------------------------------------------------------------------


def test_a_referred_friend_gets_the_discount_and_the_referrer_the_reward(shop: Shop) -> None:
    friend = shop.browser()
    friend.get("/", ref=shop.program.code_for("alice"))
    friend.signup(unique("bob"))
    order = unique("o")
    assert friend.checkout(order, "40.00") == {"paid": "35.00", "discount": "5.00"}
    conversion = shop.program.conversion(order)
    assert conversion is not None
    assert conversion.amount == Decimal("35.00")
    assert sorted(r.role for r in conversion.rewards) == ["referee", "referrer"]
    assert shop.program.stats_for("alice").conversions == 1


def test_an_order_is_recorded_once(shop: Shop) -> None:
    friend = shop.browser()
    friend.get("/", ref=shop.program.code_for("alice"))
    friend.signup(unique("bob"))
    order = unique("o")
    first = friend.checkout(order, "40.00")
    friend.checkout(order, "40.00")  # a retry, a double click
    assert first == {"paid": "35.00", "discount": "5.00"}
    assert shop.program.stats_for("alice").conversions == 1
    conversion = shop.program.conversion(order)
    assert conversion is not None
    assert len(conversion.rewards) == 2


def test_an_existing_customer_who_clicks_a_link_is_never_bound(shop: Shop) -> None:
    customer = shop.browser()
    dave, _ = customer.signup(unique("dave"))  # an account from before any link
    customer.get("/", ref=shop.program.code_for("alice"))
    assert customer.checkout(unique("o"), "40.00") == {"paid": "40.00", "discount": "0"}
    assert shop.program.referral_for(dave) is None
    assert shop.program.stats_for("alice").conversions == 0


def test_a_guest_with_a_captured_code_binds_at_checkout(shop: Shop) -> None:
    guest = shop.browser()
    guest.get("/", ref=shop.program.code_for("alice"))
    customer = unique("guest")
    answer = guest.checkout(unique("o"), "40.00", customer=customer)
    assert answer["discount"] == "5.00"
    referral = shop.program.referral_for(customer)
    assert referral is not None
    assert referral.referrer_id == "alice"


def test_a_guest_without_a_code_pays_the_full_price(shop: Shop) -> None:
    customer = unique("guest")
    answer = shop.browser().checkout(unique("o"), "40.00", customer=customer)
    assert answer == {"paid": "40.00", "discount": "0"}
    assert shop.program.referral_for(customer) is None


# -- offers --------------------------------------------------------------------------------


def test_the_same_cookie_gets_the_same_offer(shop: Shop) -> None:
    guest = shop.browser()
    assert guest.offer("40.00")["discount"] == "0"
    guest.get("/", ref=shop.program.code_for("alice"))
    first = guest.offer("40.00")
    assert first == guest.offer("40.00")
    assert first["discount"] == "5"
    assert first["total"] == "35.00"
    assert "alice" not in str(first)  # never says who the referrer is


def test_an_offer_below_the_minimum_order_is_no_discount(shop: Shop) -> None:
    guest = shop.browser()
    guest.get("/", ref=shop.program.code_for("alice"))
    assert guest.offer("10.00")["discount"] == "0"


# -- dashboard -----------------------------------------------------------------------------


def test_the_dashboard_is_the_owners_only(shop: Shop) -> None:
    status, _ = shop.owner().dashboard()
    assert status == 200
    assert shop.browser().dashboard()[0] == 403
    customer = shop.browser()
    customer.signup(unique("dave"))
    assert customer.dashboard()[0] == 403


def test_the_dashboard_shows_the_same_panels_and_numbers(shop: Shop) -> None:
    friend = shop.browser()
    friend.get("/", ref=shop.program.code_for("alice"))
    friend.signup(unique("bob"))
    friend.checkout(unique("o"), "40.00")
    _, page = shop.owner().dashboard()
    for panel in PANELS:
        assert f'id="{panel}"' in page
    assert 'data-metric="visits">1<' in page
    assert 'data-metric="conversions">1<' in page
