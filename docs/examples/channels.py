"""Channels and sharing: links per channel, share buttons, a QR code, the funnel by channel."""

from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qs, unquote, urlsplit

import refkit

clock = refkit.FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
program = refkit.ReferralProgram(
    secret_key="dev only: 32+ random characters!",
    store="memory://",
    rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR")),
    clock=clock,
    share_text="Get 5 EUR off your first order with my link:",
)
code = program.code_for("alice")

# A link for one channel: the channel rides in ref_channel, the shop's own utm_* tags stay.
link = program.link_for("alice", "https://shop.example/?utm_source=newsletter", channel="email")
assert link == f"https://shop.example/?utm_source=newsletter&ref={code}&ref_channel=email"

# Ready share URLs, one per channel, each link carrying its own channel.
shares = program.share_links("alice", "https://shop.example/")
assert sorted(shares) == ["email", "facebook", "sms", "telegram", "whatsapp", "x"]
assert shares["email"].startswith("mailto:?subject=An%20invitation%20for%20you&body=Get%205")
assert unquote(shares["whatsapp"]) == (
    "https://wa.me/?text=Get 5 EUR off your first order with my link: "
    f"https://shop.example/?ref={code}&ref_channel=whatsapp"
)
x = parse_qs(urlsplit(shares["x"]).query)
assert x["url"] == [f"https://shop.example/?ref={code}&ref_channel=x"]

# A QR code of the link with channel "qr", as SVG, for a poster or a receipt.
svg = program.qr_svg("alice", "https://shop.example/")
assert svg.startswith('<svg width="') and svg.endswith("</svg>")

# The landing records the channel (and the UTM tags) with the visit and the referral...
program.record_visit(code, channel="whatsapp", utm_source="whatsapp", utm_medium="referral")
program.record_visit(code, channel="qr")
program.attribute("bob", code, channel="whatsapp", utm_source="whatsapp")
program.record_conversion("order-1", "bob", Decimal("40.00"), "EUR")

# ...so the funnel splits by channel.
whatsapp = program.summary(channel="whatsapp")
assert (whatsapp.visits, whatsapp.signups, whatsapp.first_purchases) == (1, 1, 1)
assert program.summary(channel="qr").signups == 0
totals = {row.channel: row for row in program.reports.channels()}
assert (totals["qr"].visits, totals["whatsapp"].buyers) == (1, 1)
assert totals["whatsapp"].purchase_rate == 1.0

# Two more figures: how many referrers share at all, and what each new customer cost.
summary = program.summary()
assert summary.share_rate == 1.0  # alice, the one referrer, brought a visit
assert summary.cost_per_acquisition == Decimal("10.00")  # 10 EUR of rewards / 1 buyer
