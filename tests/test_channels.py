"""Channels and sharing in the core: the channel and UTM tags of links, visits, referrals and
conversions, summary(channel=), share_rate, cost_per_acquisition, the funnel by channel,
share_links and qr_svg (decoded back by a real QR reader). Every store."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import zxingcpp
from PIL import Image

import refkit
from refkit.sharing import SHARE_CHANNELS

Program = refkit.ReferralProgram
SHOP = "https://shop.example/"
REWARD = refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"))


def link_in(share_url: str) -> str:
    """The referral link inside a share URL, whatever the channel's format."""
    query = parse_qs(urlsplit(share_url.replace("mailto:?", "x:?").replace("sms:?&", "x:?")).query)
    for name in ("url", "u"):
        if name in query:
            return query[name][0]
    text = query.get("body") or query["text"]
    return text[0].split()[-1]


def decode_png(png: bytes) -> list[str]:
    image = Image.open(io.BytesIO(png)).convert("L")
    return [found.text for found in zxingcpp.read_barcodes(image)]


# -- links -----------------------------------------------------------------------------------


def test_link_for_puts_the_channel_in_ref_channel_and_keeps_the_shops_utm_tags(
    program: Program,
) -> None:
    code = program.code_for("alice")
    url = "https://shop.example/p?utm_source=news&utm_medium=mail&ref_channel=old"
    link = program.link_for("alice", url, campaign="spring", channel="WhatsApp")
    assert link == (
        f"https://shop.example/p?utm_source=news&utm_medium=mail&ref={code}"
        "&campaign=spring&ref_channel=whatsapp"
    )
    assert program.link_for("alice", SHOP) == f"{SHOP}?ref={code}"


def test_the_channel_parameter_is_an_option(make_program: Callable[..., Program]) -> None:
    program = make_program(channel_param="via")
    assert program.link_for("alice", SHOP, channel="qr").endswith("&via=qr")
    with pytest.raises(refkit.ConfigurationError, match="channel_param"):
        make_program(channel_param="")


@pytest.mark.parametrize(
    "channel", ["", "-email", "e mail", "é", "x" * 33, "<script>", '"><svg', 7, b"qr"]
)
def test_a_bad_channel_is_refused_and_nothing_is_stored(program: Program, channel: object) -> None:
    code = program.code_for("alice")
    with pytest.raises(refkit.ValidationError, match="channel"):
        program.link_for("bob", SHOP, channel=channel)  # type: ignore[arg-type]
    with pytest.raises(refkit.ValidationError, match="channel"):
        program.record_visit(code, channel=channel)  # type: ignore[arg-type]
    with pytest.raises(refkit.ValidationError, match="channel"):
        program.attribute("carol", code, channel=channel, email="carol@example.com")  # type: ignore[arg-type]
    assert program.stats_for("alice").visits == 0
    assert program.referral_for("carol") is None
    assert program.reports.channels() == []
    # link_for checked the channel before giving bob a code: he holds none yet.
    assert program.summary().referrers == 1


@pytest.mark.parametrize("name", ["utm_source", "utm_medium", "utm_campaign"])
@pytest.mark.parametrize("value", ["", "x" * 101, "a\nb", "\x00", "\ud800", 5])
def test_a_bad_utm_tag_is_refused_and_nothing_is_stored(
    program: Program, name: str, value: object
) -> None:
    code = program.code_for("alice")
    with pytest.raises(refkit.ValidationError, match=name):
        program.record_visit(code, **{name: value})  # type: ignore[arg-type]
    with pytest.raises(refkit.ValidationError, match=name):
        program.attribute("bob", code, **{name: value})  # type: ignore[arg-type]
    assert program.stats_for("alice").visits == 0
    assert program.referral_for("bob") is None


# -- visits, referrals, conversions -----------------------------------------------------------


def test_visits_and_referrals_keep_their_channel_and_utm_tags(program: Program) -> None:
    code = program.code_for("alice")
    hostile = '"><svg onload=alert(1)></text>&amp;'
    visit = program.record_visit(
        code, channel="Email", utm_source=hostile, utm_medium="email", utm_campaign="spring"
    )
    assert (visit.channel, visit.utm_source, visit.utm_medium, visit.utm_campaign) == (
        "email",
        hostile,
        "email",
        "spring",
    )
    referral = program.attribute("bob", code, channel="email", utm_source=hostile)
    assert (referral.channel, referral.utm_source, referral.utm_medium) == ("email", hostile, None)
    assert program.referral_for("bob") == referral
    # The first binding wins, with its channel: a second call changes nothing.
    again = program.attribute("bob", code, channel="sms", utm_source="other")
    assert again == referral


def test_a_conversion_counts_for_its_referrals_channel(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(REWARD)
    code = program.code_for("alice")
    program.attribute("bob", code, channel="whatsapp")
    conversion = program.record_conversion("order-1", "bob", "30", "EUR")
    assert conversion.channel == "whatsapp"
    assert program.conversion("order-1") == conversion
    guest = program.record_conversion("order-2", "carol", "30", "EUR", code=code)
    assert guest.channel is None  # a code typed at checkout comes through no channel
    assert program.record_conversion("order-3", "dave", "30", "EUR").channel is None


def test_an_erased_referee_keeps_the_referrals_channel(program: Program) -> None:
    code = program.code_for("alice")
    program.attribute("bob", code, channel="telegram", utm_medium="social")
    program.erase("bob")
    (row,) = program.reports.channels()
    assert (row.channel, row.signups) == ("telegram", 1)


# -- the figures -------------------------------------------------------------------------------


def test_summary_by_channel_counts_only_that_channel(
    make_program: Callable[..., Program], clock: refkit.FrozenClock
) -> None:
    program = make_program(REWARD)
    alice, dave = program.code_for("alice"), program.code_for("dave")
    program.code_for("erin")  # a referrer who never shares
    program.record_visit(alice, channel="email")
    program.record_visit(alice, channel="email")
    program.record_visit(dave, channel="qr")
    program.record_visit(dave)
    program.attribute("bob", alice, channel="email")
    program.attribute("carol", dave, channel="qr")
    program.attribute("frank", dave)
    program.record_conversion("order-1", "bob", "40", "EUR")
    program.record_conversion("order-2", "bob", "40", "EUR")
    program.record_conversion("order-3", "carol", "25", "EUR")

    email = program.summary(channel="email")
    assert (email.visits, email.signups, email.conversions, email.first_purchases) == (2, 1, 2, 1)
    assert (email.revenue, email.reward_cost) == (Decimal("80.00"), Decimal("10.00"))
    assert email.share_rate == pytest.approx(1 / 3)  # alice; dave and erin brought no email visit
    qr = program.summary(channel="QR")
    assert (qr.visits, qr.signups, qr.first_purchases, qr.reward_cost) == (1, 1, 1, Decimal("10"))
    everything = program.summary()
    assert (everything.visits, everything.signups, everything.first_purchases) == (4, 3, 2)
    assert everything.share_rate == pytest.approx(2 / 3)
    assert everything.cost_per_acquisition == Decimal("10.00")
    assert program.summary(channel="sms").visits == 0
    assert program.summary(channel="email", campaign="spring").visits == 0
    with pytest.raises(refkit.ValidationError, match="channel"):
        program.summary(channel="<b>")


def test_cost_per_acquisition_is_none_without_first_purchases_and_rounds_to_the_cent(
    make_program: Callable[..., Program],
) -> None:
    program = make_program(REWARD)
    assert program.summary().cost_per_acquisition is None
    assert program.summary().share_rate == 0.0
    code = program.code_for("alice")
    for name in ("bob", "carol"):
        program.attribute(name, code)
    program.record_conversion("order-1", "bob", "30", "EUR")
    program.record_conversion("order-2", "carol", "30", "EUR")
    program.record_conversion("order-3", "dave", "30", "EUR")  # not referred: not acquired
    program.refund("order-2")  # the revoked reward costs nothing
    # 10 EUR of rewards over 2 first purchases by referred customers.
    assert program.summary().cost_per_acquisition == Decimal("5.00")
    program.attribute("erin", code)
    program.record_conversion("order-4", "erin", "30", "EUR")
    assert program.summary().cost_per_acquisition == Decimal("6.67")  # 20 / 3


def test_the_funnel_by_channel_is_a_cohort_that_never_passes_100_percent(
    program: Program, clock: refkit.FrozenClock
) -> None:
    code = program.code_for("alice")
    start = clock()
    program.attribute("bob", code, channel="email")  # signed up before the period
    clock.advance(timedelta(days=10))
    since = clock()
    program.record_conversion("order-1", "bob", "30", "EUR")  # ...and buys in it
    program.record_visit(code, channel="email")
    program.attribute("carol", code, channel="email")
    program.attribute("dave", code, channel="email")
    program.record_conversion("order-2", "carol", "30", "EUR")
    program.record_visit(code)
    program.attribute("erin", code)
    rows = {row.channel: row for row in program.reports.channels(since=since)}
    email = rows["email"]
    assert (email.visits, email.signups, email.buyers, email.first_purchases) == (1, 2, 1, 2)
    assert email.purchase_rate == 0.5
    assert email.revenue == {"EUR": Decimal("60.00")}
    assert (rows[None].visits, rows[None].signups, rows[None].buyers) == (1, 1, 0)
    before = {row.channel: row for row in program.reports.channels(until=since)}
    assert (before["email"].signups, before["email"].buyers) == (1, 0)  # bob bought later
    assert program.reports.channels(since=start, until=start) == []


# -- share links and QR codes ---------------------------------------------------------------------


def test_share_links_give_every_channel_its_own_link(program: Program) -> None:
    code = program.code_for("alice")
    shares = program.share_links("alice", "https://shop.example/?utm_source=news", campaign="x")
    assert list(shares) == list(SHARE_CHANNELS)
    for channel, url in shares.items():
        assert link_in(url) == (
            f"https://shop.example/?utm_source=news&ref={code}&campaign=x&ref_channel={channel}"
        )
    assert shares["email"].startswith("mailto:?subject=An%20invitation%20for%20you&body=")
    assert shares["whatsapp"].startswith("https://wa.me/?text=")
    assert shares["x"].startswith("https://x.com/intent/tweet?text=")
    assert shares["facebook"].startswith("https://www.facebook.com/sharer/sharer.php?u=https%3A")
    assert shares["telegram"].startswith("https://t.me/share/url?url=https%3A")
    assert shares["sms"].startswith("sms:?&body=")


def test_share_links_encode_the_text_whole(make_program: Callable[..., Program]) -> None:
    text = '5 € off & free #shipping? 100% yes: <b>"go"</b>\nBye'
    program = make_program(share_text=text, share_subject="For you & me")
    shares = program.share_links("alice", SHOP)
    for url in shares.values():
        assert not any(c in url for c in ' \n<"')
    query = shares["email"].split("?", 1)[1]
    assert query.count("&") == 1  # the ampersands of the text are encoded
    subject, body = (unquote(part.split("=", 1)[1]) for part in query.split("&"))
    assert subject == "For you & me"
    assert body.startswith(text + "\r\n\r\n" + SHOP)
    assert unquote(shares["sms"]).startswith(f"sms:?&body={text} {SHOP}?ref=")
    assert parse_qs(urlsplit(shares["telegram"]).query)["text"] == [text]
    own = program.share_links("alice", SHOP, text="Just this")
    assert parse_qs(urlsplit(own["x"]).query)["text"] == ["Just this"]


@pytest.mark.parametrize("text", ["", "   ", "x" * 501, "a\x00b", 5])
def test_a_bad_share_text_is_refused(make_program: Callable[..., Program], text: object) -> None:
    program = make_program()
    with pytest.raises(refkit.ValidationError, match="text"):
        program.share_links("alice", SHOP, text=text)  # type: ignore[arg-type]
    with pytest.raises(refkit.ConfigurationError, match="share_text"):
        make_program(share_text=text)
    with pytest.raises(refkit.ConfigurationError, match="share_subject"):
        make_program(share_subject=text)


def test_qr_svg_decodes_back_to_the_qr_link(program: Program) -> None:
    import segno

    svg = program.qr_svg("alice", "https://shop.example/?a=1&b=<2>", campaign="poster")
    link = program.link_for("alice", "https://shop.example/?a=1&b=<2>", "poster", "qr")
    assert link.endswith("&campaign=poster&ref_channel=qr")
    assert svg.startswith('<svg width="')
    assert 'xmlns="http://www.w3.org/2000/svg"' in svg
    assert "ref_channel" not in svg  # drawn, never written as text
    assert "<2>" not in svg
    # The same symbol segno drew, as a PNG, read by a real QR reader.
    png = io.BytesIO()
    segno.make(link, error="m", micro=False).save(png, kind="png", scale=4, border=4)
    assert decode_png(png.getvalue()) == [link]
