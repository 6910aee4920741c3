"""refkit_django at signup and checkout: each hole of the old Django example, closed.

Every test runs on memory, an SQLite file and PostgreSQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import refkit
from tests.support.shop import BROWSER

pytestmark = pytest.mark.usefixtures("django_environment")
Configure = Callable[..., refkit.ReferralProgram]
COOKIE = "refkit_referral"


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_USER_AGENT=BROWSER)


def _name(prefix: str) -> str:
    """A username no other test used (the Django users live for the whole session)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _signup(client: Any, username: str, email: str = "") -> tuple[str, Any]:
    answer = client.post("/signup", {"username": username, "email": email})
    assert answer.status_code == 200
    from django.contrib.auth import get_user_model

    return str(get_user_model().objects.get(username=username).pk), answer.json()


def test_a_signup_binds_the_captured_referral_and_clears_the_cookie(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    friend = _client()
    friend.get("/", {"ref": program.code_for("alice")})
    bob, answer = _signup(friend, _name("bob"))
    assert answer == {"referrer": "alice"}
    assert program.referral_for(bob).referrer_id == "alice"
    assert friend.cookies[COOKIE].value == ""  # deleted: the next signup here is not attributed
    friend.get("/", {"ref": ""})
    _, second = _signup(friend, _name("carol"))
    assert second == {"referrer": None}


def test_the_clicks_fingerprint_reaches_the_referral(django_refkit: Configure) -> None:
    from datetime import timedelta

    program = django_refkit(RULES=refkit.RewardRules(), FAST_PURCHASE=timedelta(minutes=5))
    friend = _client()
    friend.get("/", {"ref": program.code_for("alice")})
    bob, _ = _signup(friend, _name("bob"))
    friend.post("/checkout", {"order_id": _name("o"), "amount": "30.00"})
    flagged = program.flagged_referrals()
    assert [f.referee_id for f in flagged] == [bob]
    assert "fast_purchase" in flagged[0].reasons


def test_a_second_account_on_the_same_mailbox_cannot_refer_itself(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    first = _client()
    alice, _ = _signup(first, _name("alice"), "alice@example.com")
    again = _client()
    again.get("/", {"ref": program.code_for(alice)})
    second, answer = _signup(again, _name("alice2"), "Alice+shop@Example.com")
    assert answer == {"referrer": None}  # a self-referral: refused, logged
    assert program.referral_for(second) is None


def test_an_existing_customer_who_clicks_a_link_is_never_bound_at_checkout(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    customer = _client()
    dave, _ = _signup(customer, _name("dave"))  # an account from before any link
    customer.get("/", {"ref": program.code_for("alice")})
    paid = customer.post("/checkout", {"order_id": _name("o"), "amount": "40.00"})
    assert paid.json() == {"paid": "40.00", "discount": "0"}
    assert program.referral_for(dave) is None
    assert program.stats_for("alice").conversions == 0


def test_a_referred_friend_gets_the_discount_and_the_referrer_the_reward(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    friend = _client()
    friend.get("/", {"ref": program.code_for("alice")})
    _signup(friend, _name("bob"))
    order = _name("o")
    paid = friend.post("/checkout", {"order_id": order, "amount": "40.00"})
    assert paid.json() == {"paid": "35.00", "discount": "5.00"}
    conversion = program.conversion(order)
    assert conversion is not None
    assert conversion.amount == Decimal("35.00")
    assert {r.role for r in conversion.rewards} == {"referrer", "referee"}


def test_a_guest_checkout_binds_through_the_cookie(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    guest = _client()
    guest.get("/", {"ref": program.code_for("alice")})
    paid = guest.post(
        "/checkout", {"order_id": _name("o"), "amount": "40.00", "customer_id": "guest@x"}
    )
    assert paid.json()["discount"] == "5.00"
    assert program.referral_for("guest@x").referrer_id == "alice"


def test_a_failed_payment_records_nothing_and_releases_the_discount(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    friend = _client()
    friend.get("/", {"ref": program.code_for("alice")})
    _signup(friend, _name("bob"))
    declined = _name("o")
    answer = friend.post("/checkout", {"order_id": declined, "amount": "40.00", "fail": "1"})
    assert answer.status_code == 402
    assert program.conversion(declined) is None
    friend.raise_request_exception = False
    crashed = _name("o")
    boom = friend.post("/checkout", {"order_id": crashed, "amount": "40.00", "crash": "1"})
    assert boom.status_code == 500
    assert program.conversion(crashed) is None
    paid = friend.post("/checkout", {"order_id": _name("o"), "amount": "40.00"})
    assert paid.json()["discount"] == "5.00"  # released both times: still the friend's


def test_a_conversion_waits_for_the_shops_commit_and_never_follows_a_rollback(
    django_refkit: Configure,
) -> None:
    program = django_refkit()
    customer = _client()
    _signup(customer, _name("erin"))
    rolled_back, committed = _name("o"), _name("o")
    order = {"order_id": rolled_back, "amount": "30.00", "rollback": "1"}
    failed = customer.post("/checkout-atomic", order)
    assert failed.status_code == 500
    assert program.conversion(rolled_back) is None
    done = customer.post("/checkout-atomic", {"order_id": committed, "amount": "30.00"})
    assert done.json() == {"ok": True}
    assert program.conversion(committed) is not None


def test_the_shops_own_mistake_raises_under_debug_and_is_logged_otherwise(
    django_refkit: Configure, caplog: pytest.LogCaptureFixture
) -> None:
    from django.test import override_settings

    program = django_refkit()
    customer = _client()
    _signup(customer, _name("fay"))
    order = {"order_id": _name("o"), "amount": "30.00", "currency": "EURO"}
    assert customer.post("/checkout", order).status_code == 200  # the order goes through
    assert "ValidationError" in caplog.text
    assert program.conversion(order["order_id"]) is None
    with override_settings(DEBUG=True), pytest.raises(refkit.ValidationError):
        customer.post("/checkout", order)


@pytest.mark.usefixtures("django_environment")
def test_a_storage_failure_never_breaks_the_shops_pages(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from django.test import override_settings

    import refkit_django
    from refkit_django.conf import get_state

    down = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/refkit"  # nothing listens there
    with override_settings(REFKIT={"TEST_STORE": down, "TIMEOUT": 1}):
        friend = _client()
        assert friend.get("/", {"ref": "K7WQ-9XMP-3RDA"}).status_code == 200
        _, answer = _signup(friend, _name("gus"))
        assert answer == {"referrer": None}
        assert friend.get("/page").status_code == 200
        paid = friend.post("/checkout", {"order_id": _name("o"), "amount": "40.00"})
        assert paid.json() == {"paid": "40.00", "discount": "0"}  # full price, no error page
        assert get_state().failures.recent(get_state().program.clock()).count >= 3
    assert "StorageError" in caplog.text
    refkit_django.reset()


def test_core_events_are_sent_as_django_signals(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    from refkit_django import signals

    program = django_refkit(RULES=double_sided)
    seen: list[tuple[str, object]] = []
    receivers = {}
    for event, signal in signals.SIGNALS.items():

        def receiver(sender: object, record: object, event: str = event, **kwargs: object) -> None:
            seen.append((event, record))

        receivers[event] = receiver
        signal.connect(receiver)
    try:
        friend = _client()
        friend.get("/", {"ref": program.code_for("alice")})
        _signup(friend, _name("hal"))
        friend.post("/checkout", {"order_id": _name("o"), "amount": "40.00"})
    finally:
        for event, signal in signals.SIGNALS.items():
            signal.disconnect(receivers[event])
    events = [event for event, _ in seen]
    assert events.count("referral.created") == 1
    assert events.count("conversion.recorded") == 1
    assert "reward.created" in events
    referral = next(record for event, record in seen if event == "referral.created")
    assert isinstance(referral, refkit.Referral)
