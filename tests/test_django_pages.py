"""refkit_django's pages: the JSON API, the template tags, the dashboard and ``manage.py
refkit``, on every store."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

import refkit
from tests.support.shop import BROWSER

pytestmark = pytest.mark.usefixtures("django_environment")
Configure = Callable[..., refkit.ReferralProgram]


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_USER_AGENT=BROWSER)


def _user(*, dashboard: bool = False) -> Any:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    user = get_user_model().objects.create_user(username=f"u-{uuid.uuid4().hex[:8]}")
    if dashboard:
        user.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    return user


def _logged_in(user: Any) -> Any:
    client = _client()
    client.force_login(user)
    return client


def test_api_me_answers_the_logged_in_users_code_link_and_stats(django_refkit: Configure) -> None:
    program = django_refkit()
    assert _client().get("/refkit/api/me").status_code == 401
    user = _user()
    me = _logged_in(user).get("/refkit/api/me")
    assert me.status_code == 200
    assert me["Cache-Control"] == "no-store"
    body = me.json()
    code = program.code_for(user.pk)
    assert body["code"] == code
    assert body["link"] == f"http://testserver/r/{code}"
    assert body["stats"]["visits"] == 0


def test_api_offer_follows_a_guests_captured_code(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    guest = _client()
    assert (
        guest.get("/refkit/api/offer", {"amount": "40.00", "currency": "EUR"}).json()["discount"]
        == "0"
    )
    guest.get("/", {"ref": program.code_for("alice")})
    offer = guest.get("/refkit/api/offer", {"amount": "40.00", "currency": "EUR"}).json()
    assert offer["discount"] == "5"
    assert offer["total"] == "35.00"
    assert "alice" not in str(offer)  # never says who the referrer is
    assert guest.get("/refkit/api/offer", {"amount": "x", "currency": "EUR"}).status_code == 400
    assert guest.get("/refkit/api/offer", {"amount": "1", "currency": "EURO"}).status_code == 400


def test_the_template_tags_show_the_code_link_invite_and_offer(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    anonymous = _client().get("/page").content.decode()
    assert "Invite a friend" not in anonymous
    assert "code: </p>" in anonymous
    user = _user()
    page = _logged_in(user).get("/page").content.decode()
    code = program.code_for(user.pk)
    assert f"code: {code}</p>" in page
    assert f"link: http://testserver/r/{code}</p>" in page
    assert f"http://testserver/r/{code}?campaign=footer" in page
    assert "Invite a friend" in page
    assert "welcome offer" not in page  # not referred: no discount
    guest = _client()
    guest.get("/", {"ref": program.code_for("alice")})
    offered = guest.get("/page", {"amount": "40.00", "currency": "EUR"}).content.decode()
    assert "5.00 EUR" in offered
    assert "35.00 EUR" in offered


def test_the_dashboard_needs_the_permission(django_refkit: Configure) -> None:
    django_refkit()
    assert _client().get("/refkit/admin/").status_code == 403
    assert _logged_in(_user()).get("/refkit/admin/").status_code == 403
    assert _logged_in(_user()).post("/refkit/admin/rewards/approve-due/").status_code == 403
    allowed = _logged_in(_user(dashboard=True))
    page = allowed.get("/refkit/admin/")
    assert page.status_code == 200
    assert "default-src 'none'" in page["Content-Security-Policy"]
    assert allowed.get("/refkit/admin/admin.css").status_code == 200


def test_the_dashboard_shows_the_same_panels_and_charts_as_flask(
    django_refkit: Configure, double_sided: refkit.RewardRules
) -> None:
    program = django_refkit(RULES=double_sided)
    program.record_visit(program.code_for("alice"))
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("40.00"), "EUR")
    allowed = _logged_in(_user(dashboard=True))
    page = allowed.get("/refkit/admin/", {"days": "7"}).content.decode()
    for panel in ("refkit-funnel-chart", "refkit-money-chart", "refkit-campaign-chart"):
        assert f'id="{panel}"' in page
    assert 'href="/refkit/admin/referrer/?id=alice"' in page
    assert 'href="/refkit/admin/admin.css"' in page
    referrer = allowed.get("/refkit/admin/referrer/", {"id": "alice"})
    assert referrer.status_code == 200
    assert "refkit-referrer-chart" in referrer.content.decode()


def test_dashboard_forms_need_djangos_csrf_token(
    django_refkit: Configure, double_sided: refkit.RewardRules, clock: refkit.FrozenClock
) -> None:
    from datetime import timedelta

    from django.test import Client

    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"), hold_period=timedelta(days=1)
    )
    program = django_refkit(RULES=rules)
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("40.00"), "EUR")
    clock.advance(timedelta(days=2))
    strict = Client(enforce_csrf_checks=True, HTTP_USER_AGENT=BROWSER)
    strict.force_login(_user(dashboard=True))
    assert strict.post("/refkit/admin/rewards/approve-due/").status_code == 403
    page = strict.get("/refkit/admin/").content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    done = strict.post("/refkit/admin/rewards/approve-due/", {"csrfmiddlewaretoken": token})
    assert done.status_code == 303
    assert done["Location"].startswith("/refkit/admin/?done=approved_due&count=1")
    assert program.stats_for("alice").rewards["approved"] == Decimal("10")


def test_manage_py_refkit_runs_the_cli_on_the_sites_program(django_refkit: Configure) -> None:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    program = django_refkit(
        RULES=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"))
    )
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o-1", "bob", Decimal("40.00"), "EUR")

    def run(*args: str) -> str:
        out = io.StringIO()
        call_command("refkit", *args, stdout=out)
        return out.getvalue()

    assert '"conversions": 1' in run("stats", "--json")
    assert run("approve").startswith("approved ")
    assert "alice" in run("stats", "alice")
    assert "reward_id" in run("export")
    run("review")
    assert "user_id,currency,balance" in run("balances")
    with pytest.raises(CommandError):
        run("nonsense")
