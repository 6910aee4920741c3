"""Channels and sharing in Flask: the landing keeps the link's channel and the utm_* tags
with the visit and, through the signed cookie, with the referral; share links in the API, the
template helpers and the invite snippet; the dashboard's channels panel; and hostile tags,
campaigns and channels never reach a page unescaped. Every store."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask, render_template_string, request
from markupsafe import escape
from sqlalchemy import select

import refkit
from refkit.storage.schema import visits
from refkit_flask import RefKit

from .support.shop import MakeShop, browser, code_of, cookie_payload, program_of, state_of

UTM = "utm_source=news%20letter&utm_medium=email&utm_campaign=spring-sale"
HOSTILE = [
    "<script>alert(1)</script>",
    '"><svg onload=alert(1)>',
    "</text></svg><script>alert(2)</script>",
    "a&b&amp;c",
    "'><img src=x onerror=alert(3)>",
]


@pytest.fixture
def shop(make_shop: MakeShop, store_url: str) -> Flask:
    """The test shop on each store, with an admin, and /invite including the snippet (the
    campaign from ``?campaign=``, as a shop might pass it)."""
    app = make_shop(REFKIT_DATABASE_URL=store_url)
    ext = state_of(app).extension
    ext.admin_check(lambda: request.headers.get("X-User") == "admin")

    @app.get("/invite")
    def invite() -> str:
        return render_template_string(
            '{% with refkit_campaign=campaign %}{% include "refkit/invite.html" %}{% endwith %}',
            campaign=request.args.get("campaign"),
        )

    return app


def visit_rows(app: Flask) -> list[Any]:
    columns = (visits.c.channel, visits.c.utm_source, visits.c.utm_medium, visits.c.utm_campaign)
    return program_of(app).store.read(
        lambda c: [tuple(row) for row in c.execute(select(*columns).order_by(visits.c.id))]
    )


# -- the landing ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/r/{code}?", "/?ref={code}&"])
def test_the_landing_keeps_channel_and_utm_with_the_visit_and_the_referral(
    shop: Flask, path: str
) -> None:
    code = code_of(shop, "alice")
    client = browser(shop)
    client.get(path.format(code=code) + f"ref_channel=WhatsApp&{UTM}")
    assert visit_rows(shop) == [("whatsapp", "news letter", "email", "spring-sale")]
    payload = cookie_payload(shop, client)
    assert payload is not None
    assert payload["tags"] == {
        "channel": "whatsapp",
        "utm_source": "news letter",
        "utm_medium": "email",
        "utm_campaign": "spring-sale",
    }
    assert client.post("/signup", data={"user": "bob"}).get_json() == {"referrer": "alice"}
    referral = program_of(shop).referral_for("bob")
    assert referral is not None
    assert (referral.channel, referral.utm_source, referral.utm_medium, referral.utm_campaign) == (
        "whatsapp",
        "news letter",
        "email",
        "spring-sale",
    )
    assert program_of(shop).summary(channel="whatsapp").signups == 1


def test_first_touch_keeps_its_channel_and_later_visits_count_for_theirs(shop: Flask) -> None:
    alice, dave = code_of(shop, "alice"), code_of(shop, "dave")
    client = browser(shop)
    client.get(f"/r/{alice}?ref_channel=email&utm_source=mail")
    client.get(f"/r/{dave}?ref_channel=sms")
    assert [row[0] for row in visit_rows(shop)] == ["email", "sms"]
    client.post("/signup", data={"user": "bob"})
    referral = program_of(shop).referral_for("bob")
    assert referral is not None
    assert (referral.referrer_id, referral.channel, referral.utm_source) == (
        "alice",
        "email",
        "mail",
    )


def test_a_landing_without_tags_stores_none(shop: Flask) -> None:
    client = browser(shop)
    client.get(f"/r/{code_of(shop, 'alice')}")
    assert visit_rows(shop) == [(None, None, None, None)]
    payload = cookie_payload(shop, client)
    assert payload is not None
    assert "tags" not in payload
    client.post("/signup", data={"user": "bob"})
    referral = program_of(shop).referral_for("bob")
    assert referral is not None
    assert (referral.channel, referral.utm_source) == (None, None)


@pytest.mark.parametrize(
    "query",
    ["ref_channel=%3Cscript%3E", "ref_channel=" + "x" * 40, "utm_source=" + "y" * 101,
     "utm_medium=a%0Ab", "utm_campaign=%00"],
)  # fmt: skip
def test_a_tag_the_core_refuses_is_dropped_and_the_code_still_counts(
    shop: Flask, query: str
) -> None:
    client = browser(shop)
    client.get(f"/r/{code_of(shop, 'alice')}?{query}")
    assert visit_rows(shop) == [(None, None, None, None)]
    client.post("/signup", data={"user": "bob"})
    assert program_of(shop).referral_for("bob") is not None


def test_a_forged_cookie_tag_is_checked_again_at_signup(shop: Flask) -> None:
    client = browser(shop)
    client.get(f"/r/{code_of(shop, 'alice')}?ref_channel=email")
    state = state_of(shop)
    payload = cookie_payload(shop, client)
    assert payload is not None
    payload["tags"] = {"channel": "<b>", "utm_source": 7, "utm_medium": "ok"}
    client.set_cookie(state.settings.cookie_name, state.cookies.dumps(payload))
    client.post("/signup", data={"user": "bob"})
    referral = program_of(shop).referral_for("bob")
    assert referral is not None
    assert (referral.channel, referral.utm_source, referral.utm_medium) == (None, None, "ok")


def test_the_channel_parameter_and_share_text_are_config_keys(
    make_shop: MakeShop, store_url: str
) -> None:
    app = make_shop(
        REFKIT_DATABASE_URL=store_url,
        REFKIT_CHANNEL_PARAM="via",
        REFKIT_SHARE_TEXT="Hello there",
        REFKIT_SHARE_SUBJECT="Psst",
    )
    program = program_of(app)
    assert (program.channel_param, program.share_text, program.share_subject) == (
        "via",
        "Hello there",
        "Psst",
    )
    browser(app).get(f"/r/{code_of(app, 'alice')}?via=qr&ref_channel=email")
    assert [row[0] for row in visit_rows(app)] == ["qr"]
    with app.test_request_context(headers={"X-User": "alice"}):
        shares = state_of(app).extension.share_links()
    assert shares is not None
    assert shares["email"].startswith("mailto:?subject=Psst&body=Hello%20there%0D%0A")
    assert "%3Fvia%3Dx" in shares["x"]


@pytest.mark.parametrize("key", ["REFKIT_SHARE_TEXT", "REFKIT_SHARE_SUBJECT"])
def test_a_bad_share_text_is_a_configuration_error(make_shop: MakeShop, key: str) -> None:
    with pytest.raises(refkit.ConfigurationError, match=key):
        make_shop(**{key: ""})


def test_share_text_is_a_refkit_option(tmp_path: Any) -> None:
    app = Flask("options", instance_path=str(tmp_path))
    app.config.update(SECRET_KEY="x" * 40, REFKIT_DATABASE_URL="memory://")
    ext = RefKit(app, share_text="From the option", channel_param="src")
    with app.app_context():
        assert (ext.program.share_text, ext.program.channel_param) == ("From the option", "src")
        ext.program.store.close()


# -- share links, the snippet, the API ---------------------------------------------------------


def test_the_invite_snippet_has_share_buttons_and_the_qr_code(shop: Flask) -> None:
    client = browser(shop)
    assert client.get("/invite").get_data(as_text=True).strip() == ""  # nobody logged in
    page = client.get("/invite", headers={"X-User": "alice"}).get_data(as_text=True)
    code = code_of(shop, "alice")
    for channel in ("email", "whatsapp", "x", "facebook", "telegram", "sms"):
        assert f"refkit-invite__share--{channel}" in page
        assert quote(f"/r/{code}?ref_channel={channel}", safe="") in page
    assert page.count("<svg ") == 1
    assert 'class="refkit-qr"' in page


def test_the_api_gives_share_links_for_a_campaign_encoded(shop: Flask) -> None:
    client = browser(shop)
    body = client.get("/refkit/api/me", headers={"X-User": "alice"}).get_json()
    assert set(body["share_links"]) == {"email", "whatsapp", "x", "facebook", "telegram", "sms"}
    assert client.get("/refkit/api/me").status_code == 401


def test_the_dashboard_shows_the_funnel_by_channel(shop: Flask) -> None:
    program = program_of(shop)
    code = code_of(shop, "alice")
    for user, channel in [("bob", "email"), ("carol", "email"), ("dave", "qr")]:
        client = browser(shop)
        client.get(f"/r/{code}?ref_channel={channel}")
        client.post("/signup", data={"user": user})
    browser(shop).get(f"/r/{code}")
    program.record_conversion("order-1", "bob", "30", "EUR")
    page = browser(shop).get("/refkit/admin", headers={"X-User": "admin"}).get_data(as_text=True)
    panel = page.split('id="channels"', 1)[1].split("</section>", 1)[0]
    rows = panel.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("</tr>")[:-1]
    assert [row.split('data-channel="', 1)[1].split('"', 1)[0] for row in rows] == [
        "email",
        "qr",
        "",
    ]
    cells = [cell.split(">", 1)[1].split("<", 1)[0] for cell in rows[0].split('class="n"')[1:]]
    assert cells == ["2", "2", "1", "50.0%", "1"]  # visits, signups, bought, rate, first purchases
    assert "(no channel)" in rows[2]


# -- hostile input ----------------------------------------------------------------------------


class Elements(HTMLParser):
    """The start tags and attributes of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def elements(page: str) -> list[tuple[str, list[tuple[str, str | None]]]]:
    parser = Elements()
    parser.feed(page)
    return parser.tags


def assert_inert(page: str, hostile: str) -> None:
    """No script, no image, no frame, no event handler (what the hostile text would open);
    the text itself, if shown, only escaped."""
    found = elements(page)
    assert [tag for tag, _ in found if tag in ("script", "img", "iframe")] == []
    assert [name for _, attrs in found for name, _ in attrs if name.startswith("on")] == []
    if any(c in hostile for c in "<>\"'"):
        assert hostile not in page


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_tags_campaigns_and_channels_never_reach_a_page_unescaped(
    shop: Flask, hostile: str
) -> None:
    program = program_of(shop)
    code = code_of(shop, "alice")
    value = quote(hostile, safe="")
    client = browser(shop)
    client.get(
        f"/r/{code}?campaign={value}&ref_channel={value}&utm_source={value}"
        f"&utm_medium={value}&utm_campaign={value}"
    )
    client.post("/signup", data={"user": "bob"})
    program.record_conversion("order-1", "bob", "30", "EUR")
    referral = program.referral_for("bob")
    assert referral is not None
    assert (referral.campaign, referral.utm_source, referral.channel) == (hostile, hostile, None)

    admin = {"X-User": "admin"}
    dashboard = client.get("/refkit/admin", headers=admin).get_data(as_text=True)
    assert_inert(dashboard, hostile)
    assert str(escape(hostile)) in dashboard  # the campaign panel shows it, escaped
    referrer = client.get("/refkit/admin/referrer?id=alice", headers=admin)
    assert referrer.status_code == 200
    assert_inert(referrer.get_data(as_text=True), hostile)

    invite = client.get(f"/invite?campaign={value}", headers={"X-User": "alice"})
    page = invite.get_data(as_text=True)
    assert_inert(page, hostile)
    svgs = [attrs for tag, attrs in elements(page) if tag == "svg"]
    assert len(svgs) == 1  # the QR code stayed whole
    assert ("class", "refkit-qr") in svgs[0]
    qr = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert [t for t, _ in elements(qr)] == ["title", "g", "path", "path"]
    for href in [v for t, a in elements(page) if t == "a" for n, v in a if n == "href"]:
        assert href is not None
        assert not any(c in href for c in "<>\"' ")

    for path in ("/refkit/api/me", f"/refkit/api/me/link?campaign={value}"):
        answer = client.get(path, headers={"X-User": "alice"})
        assert answer.status_code == 200
        assert answer.mimetype == "application/json"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        for url in answer.get_json().get("share_links", {}).values():
            assert not any(c in url for c in "<>\"' ")
