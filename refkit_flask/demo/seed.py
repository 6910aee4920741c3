"""The demo's products and its story: an owner, a few customers, referrals, visits, orders.

:func:`seed_products` runs on every start (it adds missing products only). :func:`seed_story`
runs once per instance folder: it holds the shop database's write lock while it works, checks a
marker, and sets the marker in the same transaction, so starting the app twice (or two
processes at once) never duplicates anything. The story uses refkit's core program with
explicit ``at=`` times in the past, then :meth:`~refkit.ReferralProgram.approve_due`, so some
rewards are already approved (their hold period has passed) and some are still pending. Its
referees (the accounts and :data:`GUESTS`, customers without a login) were shown one of the two
welcome offers of the demo's A/B test, so the dashboard's experiment panel has data, and Alice
reaches the 15 EUR milestone when her third referral's reward is approved.

The passwords below are for this demo only: they are printed at start-up and shown on the
login page.
"""

from __future__ import annotations

import itertools
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from flask import Flask
from werkzeug.security import generate_password_hash

from refkit import ReferralProgram

from . import db

__all__ = [
    "ACCOUNTS",
    "GUESTS",
    "PRODUCTS",
    "DemoAccount",
    "DemoProduct",
    "seed_products",
    "seed_story",
]

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


#: Customers the story invites who have no demo login (their password hash is unusable:
#: nobody can log in as them): (name, inviter, variant shown, channel, joined days ago,
#: their first order as (product, quantity, days ago) or None when they have not bought).
#: With the accounts' referrals, 12 referees saw each offer: 5 of A's bought, 7 of B's.
GUESTS: tuple[tuple[str, str, str, str, int, tuple[str, int, int] | None], ...] = (
    ("Hana Sato", "alice", "A", "email", 22, ("pour-over-kit", 1, 20)),  # Alice's 3rd: a bonus
    ("Ivan Petrov", "alice", "A", "whatsapp", 50, None),
    ("Jade Laurent", "alice", "B", "qr", 35, None),
    ("Karl Berg", "alice", "A", "email", 18, None),
    ("Lea Rossi", "alice", "B", "whatsapp", 4, None),
    ("Marta Silva", "bob", "B", "sms", 23, ("house-beans", 1, 21)),  # Bob: 2 of 3 approved
    ("Nils Hansen", "bob", "A", "sms", 19, ("ceramic-mug", 2, 17)),
    ("Omar Haddad", "bob", "A", "sms", 12, None),
    ("Paula Costa", "bob", "B", "email", 8, None),
    ("Quinn Walsh", "carol", "B", "whatsapp", 7, ("house-beans", 2, 5)),  # still held
    ("Rosa Diaz", "carol", "A", "qr", 15, None),
    ("Sami Koski", "carol", "A", "whatsapp", 9, None),
    ("Tariq Aziz", "carol", "B", "email", 6, ("pour-over-kit", 1, 3)),
    ("Uma Patel", "frank", "A", "email", 28, ("espresso-grinder", 1, 26)),
    ("Victor Hugo", "frank", "B", "qr", 14, ("ceramic-mug", 1, 12)),
    ("Wen Li", "frank", "B", "qr", 11, ("house-beans", 1, 8)),
    ("Xavier Roy", "frank", "A", "email", 13, None),
    ("Yara Nasser", "frank", "A", "qr", 5, None),
    ("Zoe Adler", "frank", "B", "whatsapp", 3, None),
    ("Ada Brandt", "frank", "B", "email", 2, None),
)

#: A password hash no password matches (werkzeug's check refuses it): customers without a login.
NO_LOGIN = "!"


def _tell_the_story(
    conn: sqlite3.Connection, program: ReferralProgram, now: datetime, hash_method: str
) -> None:
    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def shown(variant: str) -> str | None:
        """The variant, when the program runs the demo's A/B test (``REFKIT_RULES`` may
        replace it with plain rules: then there is none)."""
        return variant if program.experiment is not None else None

    keys = (f"seed-{n}" for n in itertools.count())

    def visitor(variant: str) -> str:
        """A new visitor key the experiment assigns to ``variant``, as the landing does."""
        return next(key for key in keys if program.variant_for(key) in (variant, None))

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
    codes = {key: program.code_for(users[key].id) for key in ("alice", "bob", "carol", "frank")}

    # Clicks on Alice's and Bob's links that did not (or not yet) turn into a signup, each
    # through the share button (the channel) it came from, each visitor shown one of the two
    # welcome offers (the A/B test's variant).
    for i, days in enumerate((58, 45, 41, 33, 26, 25, 12, 7, 6, 2)):
        campaign = "newsletter" if i % 3 == 0 else "instagram"
        channel = "email" if i % 3 == 0 else ("whatsapp", "qr")[i % 2]
        variant = "AB"[i % 2]
        program.record_visit(
            codes["alice"],
            campaign=campaign,
            visitor=visitor(variant),
            at=ago(days),
            channel=channel,
            variant=shown(variant),
        )
    for i, days in enumerate((15, 11, 10)):
        variant = "AB"[i % 2]
        program.record_visit(
            codes["bob"],
            visitor=visitor(variant),
            at=ago(days),
            channel="sms",
            variant=shown(variant),
        )

    # Who invited whom (one level only: Alice never earns on Erin, whom Bob invited), and the
    # offer each was shown: each signed up right after landing on the link.
    referees: list[tuple[db.User, str, str, str, int]] = [
        (users["bob"], "alice", "A", "email", joined["bob"]),
        (users["carol"], "alice", "B", "whatsapp", joined["carol"]),
        (users["dave"], "alice", "A", "qr", joined["dave"]),
        (users["erin"], "bob", "B", "sms", joined["erin"]),
    ]
    for name, referrer, variant, channel, days, _ in GUESTS:
        email = f"{name.lower().replace(' ', '.')}@example.com"
        guest = db.create_user(conn, name, email, NO_LOGIN, at=ago(days))
        users[email] = guest
        referees.append((guest, referrer, variant, channel, days))
    for referee, referrer, variant, channel, days in referees:
        landed = ago(days + 0.01)
        program.record_visit(
            codes[referrer],
            visitor=visitor(variant),
            at=landed,
            channel=channel,
            variant=shown(variant),
        )
        program.attribute(
            referee.id, codes[referrer], at=ago(days), channel=channel, variant=shown(variant)
        )

    # Orders: (reference, customer, product, quantity, days ago); the friend's discount
    # (5 or 10 EUR off, by variant) is taken off a referee's first order from 10 EUR.
    orders = [
        ("DEMO-1001", users["bob"], "pour-over-kit", 1, 38),  # Alice's 3.40 + 5 EUR, approved
        ("DEMO-1002", users["frank"], "house-beans", 2, 29),  # a walk-in: not referred
        ("DEMO-1003", users["carol"], "espresso-grinder", 1, 24),  # 10% capped at 20 EUR
        ("DEMO-1004", users["carol"], "ceramic-mug", 1, 16),  # Carol's reward was already earned
        ("DEMO-1005", users["erin"], "ceramic-mug", 2, 9),  # Bob's 1.98 + Erin's 5, still held
        ("DEMO-1006", users["dave"], "sticker-pack", 1, 5),  # below the 10 EUR minimum
        ("DEMO-1007", users["dave"], "house-beans", 1, 2),  # Alice's 1.95 + Dave's 5, still held
    ]
    for n, (name, _, _, _, _, bought) in enumerate(GUESTS):
        if bought is not None:
            slug, quantity, days = bought
            guest = users[f"{name.lower().replace(' ', '.')}@example.com"]
            orders.append((f"DEMO-{1101 + n}", guest, slug, quantity, days))
    for reference, customer, slug, quantity, days in orders:
        product = products[slug]
        gross = product.price * quantity
        # As the checkout view does: reserve the friend's discount, charge the rest.
        claim = program.claim_discount(reference, customer.id, gross, db.CURRENCY, at=ago(days))
        order = db.create_order(
            conn,
            customer,
            product,
            quantity,
            reference=reference,
            at=ago(days),
            paid_less=claim.discount,
        )
        program.record_conversion(
            order.reference, order.user_id, order.total, order.currency, at=order.created_at
        )
    # The hold period of the older rewards is over: Alice's third approved referral reaches
    # the 15 EUR milestone; Bob has two of three.
    program.approve_due(now)
