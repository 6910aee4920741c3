"""The refkit demo shop: a small coffee shop on SQLite with a double-sided referral program.

Run it with ``python -m refkit_flask.demo`` (``make demo``) or ``flask --app refkit_flask.demo
run``. Flask's CLI finds :func:`create_app` by itself; there is deliberately no module-level
``app``, so importing this package creates no files.

Everything lives in the app's instance folder (``create_app({"INSTANCE_PATH": ...})``, or the
``DEMO_INSTANCE_PATH`` environment variable): ``shop.db`` holds the shop's users, products and
orders, ``refkit.db`` refkit's referrals, visits, conversions and rewards. Delete the folder to
start over.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from flask import Flask

from refkit import Experiment, Milestone, Reward, RewardRules

from . import db, seed
from .shop import blueprint, refkit

__all__ = ["DEMO_RULES", "DEMO_SECRET_KEY", "create_app", "refkit"]

#: DEMO ONLY: a fixed, public key so the demo runs without set-up. Never use it in a real shop;
#: set ``DEMO_SECRET_KEY`` (at least 32 random characters) to override it here.
DEMO_SECRET_KEY = "refkit-demo-shop--DEMO-ONLY-public-key--never-use-in-production"  # noqa: S105

#: The rules both offers share. Double-sided: the referrer earns 10% of what the referee paid
#: (at most 20 EUR), the referee gets money off their first order at checkout (the offer under
#: test, see :data:`DEMO_RULES`) and a 5 EUR welcome reward; orders from 10 EUR; rewards are
#: held 14 days (the refund window). Each referee earns its referrer one reward at most; a
#: too-small first order does not forfeit it (``first_purchase_only`` is off). A referrer's
#: third rewarded friend earns a 15 EUR bonus, once (a milestone, counted on approved rewards).
_SHARED: dict[str, Any] = {
    "referrer_reward": Reward.percent(10, cap=Decimal("20")),
    "referee_reward": Reward.fixed(Decimal("5"), "EUR"),
    "currency": "EUR",
    "min_order_amount": Decimal("10"),
    "first_purchase_only": False,
    "attribution_window": timedelta(days=60),
    "hold_period": timedelta(days=14),
    "milestones": [Milestone(3, Reward.fixed(Decimal("15"), "EUR"))],
}

#: A running A/B test of two welcome offers: half of the invited visitors (assigned at the
#: landing, kept in the referral cookie, stored on the referral at signup) are offered 5 EUR
#: off their first order ("A", the control), the other half 10 EUR off ("B"); everything else
#: is the same in both. The trade-off the dashboard's experiment panel measures: B may convert
#: more friends into buyers, but each of its purchases costs 5 EUR more in discounts, and
#: since the referrer's 10% is of what the friend paid, B's referrers earn a little less per
#: order. B is worth it only if its conversion rate is higher by enough to pay for that (compare
#: the variants' cost per purchase, not only their conversion rates), and the seeded story's
#: few referees cannot tell yet. The milestone is on both variants (a program's milestones are
#: the control's rules' ones).
DEMO_RULES = Experiment(
    "welcome-offer",
    {
        "A": RewardRules(referee_discount=Reward.fixed(Decimal("5"), "EUR"), **_SHARED),
        "B": RewardRules(referee_discount=Reward.fixed(Decimal("10"), "EUR"), **_SHARED),
    },
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the demo shop.

    :param config: Flask config overrides, plus ``INSTANCE_PATH`` (where the SQLite files go;
        default: ``DEMO_INSTANCE_PATH`` from the environment, else Flask's instance folder).
        ``DEMO_SEED=False`` skips the demo story (products are always there).

    On first start in an instance folder it creates the tables and seeds the demo story; later
    starts find it and seed nothing.
    """
    settings = dict(config or {})
    instance = settings.pop("INSTANCE_PATH", None) or os.environ.get("DEMO_INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=os.path.abspath(os.fspath(instance)) if instance else None,
    )
    app.config.update(
        SECRET_KEY=os.environ.get("DEMO_SECRET_KEY") or DEMO_SECRET_KEY,
        SESSION_COOKIE_SAMESITE="Lax",
        REFKIT_RULES=DEMO_RULES,
        DEMO_SEED=True,
        DEMO_HASH_METHOD="scrypt",
        SHOP_DATABASE=os.path.join(app.instance_path, "shop.db"),
    )
    app.config.update(settings)
    os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    seed.seed_products(app.config["SHOP_DATABASE"])
    refkit.init_app(app)
    app.register_blueprint(blueprint)
    if app.config["DEMO_SEED"]:
        with app.app_context():
            program = refkit.program
            program.create_all()
            seed.seed_story(app, program)
    return app
