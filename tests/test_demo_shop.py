"""The demo shop (``make demo``): the referral journey end to end, seeding, guards, start-up."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from refkit import ReferralProgram
from refkit_flask import RefKitState
from refkit_flask.demo import create_app, db

BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
FAST_HASH = "pbkdf2:sha256:1000"  # the seeded passwords hash quickly in tests


def make_app(instance: Path, **config: object) -> Flask:
    return create_app(
        {
            "INSTANCE_PATH": instance,
            "TESTING": True,
            "REFKIT_RAISE_ERRORS": True,
            "DEMO_HASH_METHOD": FAST_HASH,
            **config,
        }
    )


def program_of(app: Flask) -> ReferralProgram:
    state = app.extensions["refkit"]
    assert isinstance(state, RefKitState)
    return state.program


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    shop = make_app(tmp_path / "instance")
    yield shop
    program_of(shop).store.close()


def browser(app: Flask) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = BROWSER
    return client


def csrf_from(client: FlaskClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, path
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def log_in(client: FlaskClient, email: str, password: str) -> None:
    token = csrf_from(client, "/login")
    answer = client.post("/login", data={"email": email, "password": password, "csrf_token": token})
    assert answer.status_code == 302, answer.get_data(as_text=True)


def stat(page: str, name: str) -> str:
    found = re.search(rf'<dd id="stat-{name}">([^<]*)</dd>', page)
    assert found, f"no stat {name}"
    return found.group(1)


def money(text: str) -> Decimal:
    return Decimal(text.removesuffix(" EUR").replace(",", ""))


def count_rows(app: Flask, table: str) -> int:
    conn = sqlite3.connect(app.config["SHOP_DATABASE"])
    try:
        (count,) = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        conn.close()
    return int(count)


def product_id(app: Flask, slug: str) -> int:
    conn = db.connect(app.config["SHOP_DATABASE"])
    try:
        product = db.product_by_slug(conn, slug)
    finally:
        conn.close()
    assert product is not None
    return product.id


def test_a_friend_follows_the_link_signs_up_and_buys(app: Flask) -> None:
    # Alice (seeded) finds her share link on the invite page.
    alice = browser(app)
    log_in(alice, "alice@example.com", "demo-alice")
    before = alice.get("/invite").get_data(as_text=True)
    link = re.search(r'id="share-link" readonly value="([^"]+)"', before)
    assert link, "no share link on the invite page"
    assert "/r/" in link.group(1)

    # A new visitor opens it in a browser, sees the invitation, and signs up.
    grace = browser(app)
    landing = grace.get(link.group(1))
    assert landing.status_code == 302
    assert landing.location == "/"
    assert "Alice Martin invited you!" in grace.get("/").get_data(as_text=True)
    token = csrf_from(grace, "/signup")
    signed_up = grace.post(
        "/signup",
        data={
            "name": "Grace Hopper",
            "email": "grace@example.com",
            "password": "cobol-1959",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert signed_up.status_code == 200
    assert "You were invited by a friend" in signed_up.get_data(as_text=True)

    # She logs out, logs back in, and buys the pour-over kit (39.00 EUR): the shop shows her
    # friend's 5.00 EUR off, and she is charged 34.00 EUR.
    grace.post("/logout", data={"csrf_token": csrf_from(grace, "/")})
    assert "Log in" in grace.get("/").get_data(as_text=True)
    log_in(grace, "grace@example.com", "cobol-1959")
    shop_page = grace.get("/").get_data(as_text=True)
    assert "Alice Martin invited you: 5.00 EUR off" in shop_page
    assert "<s>39.00 EUR</s>" in shop_page
    bought = grace.post(
        "/checkout",
        data={
            "product_id": product_id(app, "pour-over-kit"),
            "quantity": "1",
            "csrf_token": csrf_from(grace, "/"),
        },
    )
    assert bought.status_code == 302
    assert bought.location.startswith("/orders/DS-")
    confirmation = grace.get(bought.location).get_data(as_text=True)
    assert "34.00 EUR" in confirmation  # 39.00 minus the friend's 5.00
    assert "took 5.00 EUR off this order" in confirmation
    assert "You earned <strong>5.00 EUR</strong> (referee reward, pending" in confirmation
    assert "Alice Martin invited you" not in grace.get("/").get_data(as_text=True)  # used
    assert "DS-" in grace.get("/orders").get_data(as_text=True)
    grace_invite = grace.get("/invite").get_data(as_text=True)
    assert "You were invited by Alice Martin." in grace_invite
    assert "joining through an invitation" in grace_invite

    # Alice's page now shows the visit, the signup, the order and her pending 10%.
    after = alice.get("/invite").get_data(as_text=True)
    for name in ("visits", "signups", "conversions"):
        assert int(stat(after, name)) == int(stat(before, name)) + 1, name
    assert money(stat(after, "revenue")) == money(stat(before, "revenue")) + Decimal("34.00")
    assert money(stat(after, "pending")) == money(stat(before, "pending")) + Decimal("3.40")
    assert re.search(
        r"inviting Grace Hopper</td>\s*<td class=\"num\">3.40 EUR</td>\s*"
        r"<td><span class=\"badge\">pending</span>",
        after,
    )

    # And refkit agrees.
    with app.app_context():
        program = program_of(app)
        conn = db.connect(app.config["SHOP_DATABASE"])
        try:
            user = db.user_by_email(conn, "grace@example.com")
            alice_user = db.user_by_email(conn, "alice@example.com")
        finally:
            conn.close()
        assert user is not None
        assert alice_user is not None
        referral = program.referral_for(user.id)
        assert referral is not None
        assert referral.referrer_id == str(alice_user.id)
        rewards = {(r.role, r.value, r.status) for r in program.rewards(user_id=user.id)}
        assert rewards == {("referee", Decimal("5.00"), "pending")}


def test_seeding_is_idempotent(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    counts = []
    for _ in range(2):
        app = make_app(instance)
        with app.app_context():
            program = program_of(app)
            summary = program.summary()
            rewards = len(program.rewards(limit=1000))
        counts.append(
            (
                count_rows(app, "users"),
                count_rows(app, "products"),
                count_rows(app, "orders"),
                summary.visits,
                summary.signups,
                summary.conversions,
                rewards,
            )
        )
        program.store.close()
    assert counts[0] == counts[1]
    users, products, orders, visits, signups, conversions, rewards = counts[0]
    assert (users, products, orders) == (7, 5, 7)
    assert (visits, signups, conversions) == (13, 4, 6)  # Frank walked in: not referred
    assert rewards == 8


def test_the_seeded_story_has_approved_and_pending_rewards(app: Flask) -> None:
    with app.app_context():
        statuses = [r.status for r in program_of(app).rewards()]
        leaders = program_of(app).leaderboard()
    assert statuses.count("approved") == 4
    assert statuses.count("pending") == 4
    assert leaders[0].conversions >= 3
    owner = browser(app)
    log_in(owner, "owner@example.com", "demo-owner")
    assert 'href="/refkit/admin"' in owner.get("/").get_data(as_text=True)
    alice = browser(app)
    log_in(alice, "alice@example.com", "demo-alice")
    assert 'href="/refkit/admin"' not in alice.get("/").get_data(as_text=True)


def test_anonymous_visitors_are_sent_to_log_in(app: Flask) -> None:
    client = browser(app)
    invite = client.get("/invite")
    assert invite.status_code == 302
    assert invite.location == "/login?next=/invite"
    checkout = client.post("/checkout", data={"product_id": "1", "csrf_token": "x"})
    assert checkout.status_code == 302
    assert checkout.location.startswith("/login?next=")
    assert count_rows(app, "orders") == 7


def test_a_bad_csrf_token_is_refused_and_records_nothing(app: Flask) -> None:
    with app.app_context():
        before = program_of(app).summary()
    bob = browser(app)
    log_in(bob, "bob@example.com", "demo-bob")
    csrf_from(bob, "/")  # the session has a token; the forms below do not send it
    for data in ({"csrf_token": "forged"}, {}):
        answer = bob.post("/checkout", data={"product_id": "1", **data})
        assert answer.status_code == 400
    assert count_rows(app, "orders") == 7
    with app.app_context():
        assert program_of(app).summary() == before
    # Log-in and sign-up forms are protected too.
    stranger = browser(app)
    refused = stranger.post(
        "/login", data={"email": "bob@example.com", "password": "demo-bob", "csrf_token": "x"}
    )
    assert refused.status_code == 400


def test_wrong_password_and_taken_email(app: Flask) -> None:
    client = browser(app)
    token = csrf_from(client, "/login")
    wrong = client.post(
        "/login", data={"email": "bob@example.com", "password": "nope-nope", "csrf_token": token}
    )
    assert wrong.status_code == 400
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    token = csrf_from(client, "/signup")
    taken = client.post(
        "/signup",
        data={
            "name": "Bob",
            "email": "BOB@example.com",
            "password": "long-enough",
            "csrf_token": token,
        },
    )
    assert taken.status_code == 400
    assert "exists already" in taken.get_data(as_text=True)
    assert count_rows(app, "users") == 7


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_python_m_refkit_flask_demo_serves_the_shop(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "DEMO_INSTANCE_PATH": str(tmp_path / "instance")}
    url = f"http://127.0.0.1:{port}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    process = subprocess.Popen(
        [sys.executable, "-m", "refkit_flask.demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    body = ""
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with opener.open(url, timeout=2) as answer:
                    body = answer.read().decode()
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "Espresso grinder" in body, output
    assert url in output
    assert "owner@example.com" in output
    assert "demo-owner" in output


def test_the_owner_lists_balances_and_records_a_payout(app: Flask) -> None:
    owner = browser(app)
    log_in(owner, "owner@example.com", "demo-owner")
    with app.app_context():
        program = program_of(app)
        [line, *_] = program.balances()
    dashboard = owner.get("/refkit/admin").get_data(as_text=True)
    assert "Balances to pay out" in dashboard
    assert f'data-balance="{line.user_id}"' in dashboard
    token = re.search(r'name="csrf_token" value="([^"]+)"', dashboard)
    assert token is not None
    form = {
        "csrf_token": token.group(1),
        "user": line.user_id,
        "amount": str(line.amount),
        "currency": line.currency,
        "reference": "bank-1",
    }
    for _ in range(2):  # sent twice: one payout
        assert owner.post("/refkit/admin/payouts", data=form).status_code == 303
    with app.app_context():
        assert program.balance(line.user_id, line.currency) == 0
        paid = [e for e in program.ledger(line.user_id) if e.kind == "paid_out"]
    assert [(e.reference, -e.approved) for e in paid] == [("bank-1", line.amount)]
