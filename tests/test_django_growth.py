"""refkit_django and issue 15's growth features: the A/B test's variant assigned at the landing
and kept in the cookie, the landing's channel and UTM tags kept with the referral, share links
and the QR code, milestone progress in the API, and the dashboard's experiment and channels
panels with people's names (``REFKIT["DISPLAY_NAME"]``), on every store."""

from __future__ import annotations

import html
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import refkit
from refkit import Experiment, Milestone, Reward, RewardRules
from tests.support.shop import BROWSER

pytestmark = pytest.mark.usefixtures("django_environment")
Configure = Callable[..., refkit.ReferralProgram]
COOKIE = "refkit_referral"
RULES_A = RewardRules(
    currency="EUR",
    referrer_reward=Reward.percent(10),
    referee_discount=Reward.fixed(Decimal("5"), "EUR"),
    first_purchase_only=True,
)
RULES_B = RewardRules(
    currency="EUR",
    referrer_reward=Reward.fixed(Decimal("7"), "EUR"),
    referee_discount=Reward.fixed(Decimal("10"), "EUR"),
    first_purchase_only=True,
)
WELCOME = Experiment("welcome-offer", {"A": RULES_A, "B": RULES_B})
HOSTILE = '<script>alert("x")</script>&"\'</svg>'  # bob's name in django_site.display_name


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_USER_AGENT=BROWSER)


def _payload(client: Any) -> dict[str, Any]:
    from refkit_django.conf import get_state

    found = get_state().cookie.load(client.cookies[COOKIE].value)
    assert found is not None
    return found


def _signup(client: Any) -> str:
    from django.contrib.auth import get_user_model

    username = f"friend-{uuid.uuid4().hex[:8]}"
    assert client.post("/signup", {"username": username}).status_code == 200
    return str(get_user_model().objects.get(username=username).pk)


def _visitor_in(variant: str, code: str) -> Any:
    """A new visitor who landed through ``code`` and was assigned ``variant`` (each visitor's
    variant comes from a random id: a few tries find one)."""
    for _ in range(64):
        friend = _client()
        assert friend.get(f"/r/{code}").status_code == 302
        if _payload(friend)["ab"] == ["welcome-offer", variant]:
            return friend
    raise AssertionError(f"no visitor in {variant} in 64 tries")  # pragma: no cover


def _admin() -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username=f"owner-{uuid.uuid4().hex[:8]}")
    user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    client = _client()
    client.force_login(user)
    return client


def test_a_landing_with_utm_tags_under_an_experiment_gives_the_referral_its_variant_and_tags(
    django_refkit: Configure,
) -> None:
    program = django_refkit(RULES=WELCOME)
    friend = _client()
    landing = friend.get(
        f"/r/{program.code_for('alice')}",
        {
            "ref_channel": "email",
            "utm_source": "newsletter",
            "utm_medium": "mail",
            "utm_campaign": "spring",
        },
    )
    assert landing.status_code == 302
    found = _payload(friend)
    key, variant = found["ab"]
    assert key == "welcome-offer"
    assert variant in ("A", "B")
    assert found["tags"]["utm_source"] == "newsletter"
    bob = _signup(friend)
    referral = program.referral_for(bob)
    assert referral is not None
    assert referral.referrer_id == "alice"
    assert referral.variant == variant  # the one the visitor was shown, not bob's own
    assert (referral.channel, referral.utm_source, referral.utm_medium, referral.utm_campaign) == (
        "email",
        "newsletter",
        "mail",
        "spring",
    )
    assert program.summary(variant=variant).visits == 1
    assert program.summary(channel="email").signups == 1


def test_a_bad_tag_is_dropped_and_the_code_still_counts(django_refkit: Configure) -> None:
    program = django_refkit()
    friend = _client()
    friend.get(
        "/",
        {
            "ref": program.code_for("alice"),
            "ref_channel": "x y",  # not a channel name
            "utm_source": "s" * 101,  # too long
            "utm_medium": HOSTILE,  # text: kept as it is, escaped wherever it is shown
        },
    )
    assert program.stats_for("alice").visits == 1
    bob = _signup(friend)
    referral = program.referral_for(bob)
    assert referral is not None
    assert (referral.channel, referral.utm_source, referral.utm_medium) == (None, None, HOSTILE)


def _customer_not_in(variant: str) -> str:
    """A customer id the experiment would assign to the other variant by itself."""
    return next(
        customer
        for customer in (f"guest-{uuid.uuid4().hex[:8]}" for _ in range(1000))
        if WELCOME.variant_for(customer) != variant
    )


@pytest.mark.parametrize("shown", ["A", "B"])
def test_a_guest_is_offered_the_discount_of_the_variant_shown(
    django_refkit: Configure, shown: str
) -> None:
    program = django_refkit(RULES=WELCOME)
    guest = _visitor_in(shown, program.code_for("alice"))
    offer = guest.get("/refkit/api/offer", {"amount": "40.00", "currency": "EUR"}).json()
    assert Decimal(offer["discount"]) == (10 if shown == "B" else 5)
    page = guest.get("/page", {"amount": "40.00"}).content.decode()
    assert ("10.00" if shown == "B" else "5.00") in page  # {% refkit_offer %}


def test_a_guest_shown_variant_b_is_given_bs_discount_and_rewards(
    django_refkit: Configure,
) -> None:
    program = django_refkit(RULES=WELCOME)
    guest = _visitor_in("B", program.code_for("alice"))
    customer = _customer_not_in("B")
    paid = guest.post(
        "/checkout", {"order_id": "o-b", "amount": "40.00", "customer_id": customer}
    ).json()
    assert Decimal(paid["discount"]) == 10
    referral = program.referral_for(customer)
    assert referral is not None
    assert referral.variant == "B"
    [reward] = [r for r in program.rewards(user_id="alice") if r.role == "referrer"]
    assert reward.value == Decimal("7")  # B's referrer reward


def test_a_signup_keeps_the_variant_shown_not_the_users_own(django_refkit: Configure) -> None:
    program = django_refkit(RULES=WELCOME)
    differed = 0
    for number in range(40):  # until a user's own variant differed from the one shown, twice
        shown = "AB"[number % 2]
        friend = _visitor_in(shown, program.code_for("alice"))
        user = _signup(friend)
        referral = program.referral_for(user)
        assert referral is not None
        assert referral.variant == shown
        differed += WELCOME.variant_for(user) != shown
        if differed == 2:
            break
    assert differed == 2


def test_api_me_has_share_links_and_milestone_progress(django_refkit: Configure) -> None:
    from django.contrib.auth import get_user_model

    rules = RewardRules(
        currency="EUR",
        referrer_reward=Reward.fixed(Decimal("5"), "EUR"),
        milestones=[Milestone(3, Reward.fixed(Decimal("20"), "EUR"))],
    )
    program = django_refkit(RULES=rules, SHARE_TEXT="Join me & save")
    user = get_user_model().objects.create_user(username=f"u-{uuid.uuid4().hex[:8]}")
    client = _client()
    client.force_login(user)
    body = client.get("/refkit/api/me").json()
    code = program.code_for(user.pk)
    shares = body["share_links"]
    assert set(shares) == {"email", "whatsapp", "x", "facebook", "telegram", "sms"}
    assert shares["email"].startswith("mailto:")
    assert f"r%2F{code}%3Fref_channel%3Demail" in shares["email"]
    assert "Join%20me%20%26%20save" in shares["email"]
    assert body["milestone_progress"] == 0
    assert body["next_milestone"] == {
        "count": 3,
        "kind": "fixed",
        "value": "20",
        "currency": "EUR",
    }


def test_the_invite_tag_has_share_buttons_and_a_qr_code(django_refkit: Configure) -> None:
    from django.contrib.auth import get_user_model

    program = django_refkit()
    user = get_user_model().objects.create_user(username=f"u-{uuid.uuid4().hex[:8]}")
    client = _client()
    client.force_login(user)
    page = client.get("/page").content.decode()
    code = program.code_for(user.pk)
    assert 'class="refkit-invite__share refkit-invite__share--whatsapp"' in page
    assert f"r%2F{code}%3Fref_channel%3Dwhatsapp" in page
    assert "<svg" in page  # the QR code, inline
    assert 'size="30"' in page  # at most 30 characters wide: fits a 320 px phone
    assert "<svg" not in _client().get("/page").content.decode()  # nobody logged in


def test_the_dashboard_has_the_experiment_and_channels_panels(django_refkit: Configure) -> None:
    program = django_refkit(RULES=WELCOME)
    code = program.code_for("alice")
    program.record_visit(code, channel="whatsapp", variant="A")
    program.attribute("bob", code, channel="whatsapp", variant="A")
    page = _admin().get("/refkit/admin/").content.decode()
    assert 'id="experiment"' in page
    assert 'id="refkit-experiment-chart"' in page
    assert "welcome-offer" in page
    channels = page.split('id="channels"', 1)[1].split("</section>", 1)[0]
    assert "whatsapp" in channels


def test_display_names_from_a_dotted_path_replace_ids_and_are_escaped(
    django_refkit: Configure, double_sided: RewardRules
) -> None:
    program = django_refkit(
        RULES=double_sided, DISPLAY_NAME="tests.support.django_site.display_name"
    )
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("40.00"), "EUR")
    owner = _admin()
    page = owner.get("/refkit/admin/").content.decode()
    leaders = page.split('id="referrers"', 1)[1].split("</section>", 1)[0]
    assert '<a href="/refkit/admin/referrer/?id=alice">Alice Martin</a>' in leaders
    assert '<small class="user-id">alice</small>' in leaders
    referrer = owner.get("/refkit/admin/referrer/", {"id": "alice"}).content.decode()
    assert "Alice Martin (alice)" in html.unescape(referrer)
    assert HOSTILE not in referrer  # bob's hostile name, escaped
    assert "&lt;script&gt;alert(" in referrer


def test_a_failing_display_name_shows_the_ids_and_is_logged_once(
    django_refkit: Configure, double_sided: RewardRules, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []

    def broken(user_id: str) -> str | None:
        calls.append(user_id)
        raise RuntimeError("the user table is down")

    program = django_refkit(RULES=double_sided, DISPLAY_NAME=broken)
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("40.00"), "EUR")
    with caplog.at_level(logging.WARNING, logger="refkit.django"):
        page = _admin().get("/refkit/admin/")
    assert page.status_code == 200
    assert '<a href="/refkit/admin/referrer/?id=alice">alice</a>' in page.content.decode()
    warnings = [r for r in caplog.records if "DISPLAY_NAME" in r.getMessage()]
    assert len(warnings) == 1
    assert calls.count("alice") == 1  # once per id and request


def test_a_display_name_that_cannot_be_imported_is_a_configuration_error(
    django_environment: None,
) -> None:
    from django.test import override_settings

    import refkit_django

    with (
        override_settings(REFKIT={"DISPLAY_NAME": "shop.nowhere.name"}),
        pytest.raises(refkit.ConfigurationError, match="DISPLAY_NAME"),
    ):
        refkit_django.program()
    with (
        override_settings(REFKIT={"DISPLAY_NAME": 42}),
        pytest.raises(refkit.ConfigurationError, match="DISPLAY_NAME"),
    ):
        refkit_django.program()
    refkit_django.reset()
