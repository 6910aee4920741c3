"""The demo's products and its story: an owner, a few customers, referrals, visits, orders.

:func:`seed_products` runs on every start (it adds missing products only). :func:`seed_story`
runs once per instance folder: it holds the shop database's write lock while it works, checks a
marker, and sets the marker in the same transaction, so starting the app twice (or two
processes at once) never duplicates anything. The story uses refkit's core program with
explicit ``at=`` times in the past, then :meth:`~refkit.ReferralProgram.approve_due`, so some
rewards are already approved (their hold period has passed) and some are still pending.

The passwords below are for this demo only: they are printed at start-up and shown on the
login page.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import Flask
from werkzeug.security import generate_password_hash

from refkit import ReferralProgram

from . import db

__all__ = ["ACCOUNTS", "PRODUCTS", "DemoAccount", "DemoProduct", "seed_products", "seed_story"]

SEEDED_MARKER = "demo_story_seeded"


@dataclass(frozen=True, slots=True)
class DemoAccount:
    key: str
    name: str
    email: str
    password: str  # demo only: printed at start-up
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class DemoProduct:
    slug: str
    name: str
    description: str
    price: Decimal


#: The seeded logins (DEMO ONLY: these passwords are public).
ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("owner", "Olivia Owner", "owner@example.com", "demo-owner", is_admin=True),
    DemoAccount("alice", "Alice Martin", "alice@example.com", "demo-alice"),
    DemoAccount("bob", "Bob Keller", "bob@example.com", "demo-bob"),
    DemoAccount("carol", "Carol Nguyen", "carol@example.com", "demo-carol"),
    DemoAccount("dave", "Dave Rossi", "dave@example.com", "demo-dave"),
    DemoAccount("erin", "Erin Dubois", "erin@example.com", "demo-erin"),
    DemoAccount("frank", "Frank Meyer", "frank@example.com", "demo-frank"),
)

PRODUCTS: tuple[DemoProduct, ...] = (
    DemoProduct(
        "pour-over-kit",
        "Pour-over coffee kit",
        "Glass dripper, 100 filters and a gooseneck kettle.",
        Decimal("39.00"),
    ),
    DemoProduct(
        "house-beans",
        "House beans, 1 kg",
        "A chocolatey blend from Brazil and Ethiopia, roasted this week.",
        Decimal("24.50"),
    ),
    DemoProduct(
        "ceramic-mug",
        "Ceramic mug",
        "Hand-thrown, 300 ml, dishwasher-safe.",
        Decimal("14.90"),
    ),
    DemoProduct(
        "sticker-pack",
        "Sticker pack",
        "Five stickers for your laptop. Below the 10 EUR minimum order for rewards.",
        Decimal("6.50"),
    ),
    DemoProduct(
        "espresso-grinder",
        "Espresso grinder",
        "Conical burrs, 40 settings. Its 10% referral reward hits the 20 EUR cap.",
        Decimal("249.00"),
    ),
)


def seed_products(path: str) -> None:
    """Add the demo products that are missing (idempotent)."""
    conn = db.connect(path)
    try:
        with conn:
            for product in PRODUCTS:
                db.upsert_product(
                    conn, product.slug, product.name, product.description, product.price
                )
    finally:
        conn.close()


def seed_story(app: Flask, program: ReferralProgram, *, now: datetime | None = None) -> bool:
    """Create the demo accounts, referrals, visits and orders once; True if it did now."""
    moment = now or db.now()
    conn = db.connect(app.config["SHOP_DATABASE"], autocommit=True)
    try:
        conn.execute("BEGIN IMMEDIATE")  # one seeder at a time, across processes
        try:
            if db.get_meta(conn, SEEDED_MARKER) is not None:
                conn.execute("ROLLBACK")
                return False
            _tell_the_story(conn, program, moment, app.config["DEMO_HASH_METHOD"])
            db.set_meta(conn, SEEDED_MARKER, moment.isoformat())
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    return True


def _tell_the_story(
    conn: sqlite3.Connection, program: ReferralProgram, now: datetime, hash_method: str
) -> None:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    users: dict[str, db.User] = {}
    joined = {"owner": 90, "alice": 60, "bob": 40, "carol": 25, "dave": 6, "erin": 10, "frank": 30}
    for account in ACCOUNTS:
        users[account.key] = db.create_user(
            conn,
            account.name,
            account.email,
            generate_password_hash(account.password, method=hash_method),
            is_admin=account.is_admin,
            at=ago(joined[account.key]),
        )
        # As the signup view does: one mailbox, one account for referral purposes.
        program.identify(users[account.key].id, email=account.email, at=ago(joined[account.key]))
    products = {p.slug: p for p in db.list_products(conn)}
    codes = {key: program.code_for(users[key].id) for key in ("alice", "bob")}

    # Clicks on Alice's and Bob's links (a few of them turned into signups below), each
    # through the share button (the channel) it came from.
    for i, days in enumerate((58, 45, 41, 33, 26, 25, 12, 7, 6, 2)):
        campaign = "newsletter" if i % 3 == 0 else "instagram"
        channel = "email" if i % 3 == 0 else ("whatsapp", "qr")[i % 2]
        program.record_visit(
            codes["alice"], campaign=campaign, visitor=f"seed-a{i}", at=ago(days), channel=channel
        )
    for i, days in enumerate((15, 11, 10)):
        program.record_visit(codes["bob"], visitor=f"seed-b{i}", at=ago(days), channel="sms")

    # Who invited whom (one level only: Alice never earns on Erin, whom Bob invited).
    for referee, referrer, channel in (
        ("bob", "alice", "email"),
        ("carol", "alice", "whatsapp"),
        ("dave", "alice", "qr"),
        ("erin", "bob", "sms"),
    ):
        program.attribute(
            users[referee].id, codes[referrer], at=ago(joined[referee]), channel=channel
        )

    # Orders: (reference, customer, product, quantity, days ago).
    orders = (
        ("DEMO-1001", "bob", "pour-over-kit", 1, 38),  # 3.90 + 5 EUR, approved by now
        ("DEMO-1002", "frank", "house-beans", 2, 29),  # a walk-in: not referred
        ("DEMO-1003", "carol", "espresso-grinder", 1, 24),  # 10% capped at 20 EUR, approved
        ("DEMO-1004", "carol", "ceramic-mug", 1, 16),  # Carol's reward was already earned
        ("DEMO-1005", "erin", "ceramic-mug", 2, 9),  # Bob's 2.98 + Erin's 5, still held
        ("DEMO-1006", "dave", "sticker-pack", 1, 5),  # below the 10 EUR minimum
        ("DEMO-1007", "dave", "house-beans", 1, 2),  # Alice's 2.45 + Dave's 5, still held
    )
    for reference, customer, slug, quantity, days in orders:
        order = db.create_order(
            conn, users[customer], products[slug], quantity, reference=reference, at=ago(days)
        )
        program.record_conversion(
            order.reference, order.user_id, order.total, order.currency, at=order.created_at
        )
    program.approve_due(now)
