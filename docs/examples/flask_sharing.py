"""Flask: share buttons and a QR code on the invite page; the landing keeps channel and UTM."""

from flask import Flask, render_template_string, session

from refkit_flask import RefKit

app = Flask(__name__)
app.config.update(
    SECRET_KEY="dev only: 32+ random characters!",
    REFKIT_DATABASE_URL="memory://",
    REFKIT_SHARE_TEXT="Get 5 EUR off your first order with my link:",
)
referrals = RefKit(app)


@referrals.user_loader
def current_user_id() -> str | None:
    return session.get("user_id")


@app.get("/login/<user_id>")
def login(user_id: str) -> str:
    session["user_id"] = user_id
    return "ok"


@app.get("/invite")
def invite() -> str:
    # The ready-made box (link, share buttons, QR code)...
    return render_template_string('{% include "refkit/invite.html" %}')


@app.get("/my-buttons")
def my_buttons() -> str:
    # ...or your own markup with the same helpers.
    return render_template_string(
        "{% for channel, url in refkit_share_links().items() %}"
        '<a href="{{ url }}">{{ channel }}</a> {% endfor %}{{ refkit_qr() }}'
    )


@app.post("/signup/<user_id>")
def signup(user_id: str) -> str:
    referral = referrals.attribute_signup(user_id)
    return (referral.channel or "") if referral else "no referral"


client = app.test_client()
client.get("/login/alice")
page = client.get("/invite").get_data(as_text=True)
assert "Share on WhatsApp" in page and 'href="https://wa.me/?text=Get%205%20EUR' in page
assert '<svg width="' in page  # the QR code, inline: no script, no style
assert "mailto:?subject=" in client.get("/my-buttons").get_data(as_text=True)

# A friend opens the WhatsApp link (channel whatsapp), tagged by the shop's campaign tool.
with app.app_context():
    code = referrals.program.code_for("alice")
friend = app.test_client()
friend.get(
    f"/r/{code}?ref_channel=whatsapp&utm_source=whatsapp&utm_medium=social",
    headers={"User-Agent": "Mozilla/5.0"},
)
assert friend.post("/signup/bob").get_data(as_text=True) == "whatsapp"
with app.app_context():
    referral = referrals.program.referral_for("bob")
    assert referral is not None
    assert (referral.utm_source, referral.utm_medium) == ("whatsapp", "social")
    assert referrals.program.summary(channel="whatsapp").visits == 1
