"""The two shops of the Flask benchmark: the same landing and checkout, with and without refkit.

:func:`plain_app` is a shop without refkit: ``GET /r/<code>`` keeps the code in a plain cookie
and redirects to ``/``; ``POST /checkout`` reads the form and writes the order to the shop's
own SQLite file. :func:`refkit_app` is the same shop with refkit: :class:`~refkit_flask.RefKit`
on an SQLite file (its landing route replaces the hand-rolled one) and the same checkout
decorated with ``@refkit.track_conversion``, calling ``refkit.conversion(...)``.
:func:`joined_app` is the same shop on Flask-SQLAlchemy with refkit's tables in the shop's
database and ``RefKit(session=db.session)``: the order and its conversion are one transaction.

Under a WSGI server, ``gunicorn 'bench.wsgi_app:from_environ()'`` builds the shop named by
:data:`ENV_APP` (``refkit``, ``plain`` or ``joined``) on the files in the directory
:data:`ENV_DIR`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from flask import Flask, redirect, request
from sqlalchemy import event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.wrappers import Response

from refkit import Reward, RewardRules
from refkit_flask import RefKit

__all__ = [
    "CURRENCY",
    "ENV_APP",
    "ENV_DIR",
    "RULES",
    "SECRET",
    "Orders",
    "from_environ",
    "joined_app",
    "joined_database",
    "plain_app",
    "refkit_app",
    "refkit_database",
    "shop_database",
]

SECRET = "bench-secret-key-0123456789abcdefghijklmnop"
RULES = RewardRules(referrer_reward=Reward.percent(10), referee_reward=Reward.fixed("5", "EUR"))
CURRENCY = "EUR"
#: The plain shop's referral cookie, and how long it lasts (refkit's default: 30 days).
COOKIE, COOKIE_MAX_AGE = "ref", 30 * 24 * 3600
ENV_APP, ENV_DIR = "REFKIT_BENCH_APP", "REFKIT_BENCH_DIR"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL, created_at TEXT NOT NULL)
"""


def joined_database(directory: Path) -> Path:
    """The joined shop's one SQLite file in ``directory``: its orders and refkit's tables."""
    return directory / "joined.db"


def refkit_database(directory: Path) -> str:
    """The URL of refkit's SQLite file in ``directory``."""
    return f"sqlite:///{directory / 'refkit.db'}"


def shop_database(directory: Path, kind: str) -> Path:
    """The shop's own order file in ``directory``: one per shop, so neither waits for the
    other's writes."""
    return directory / f"shop-{kind}.db"


class Orders:
    """The shop's order table in its own SQLite file, with the settings refkit gives its
    SQLite (WAL, ``synchronous=NORMAL``, a busy timeout): one connection per process and
    thread, opened on first use, so a forking server's workers each open their own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        connection = self._connect()
        try:
            connection.execute(_SCHEMA)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None)
        connection.execute("PRAGMA busy_timeout=30000")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection

    def connection(self) -> sqlite3.Connection:
        """This process and thread's connection."""
        pid = os.getpid()
        if getattr(self._local, "pid", None) != pid:
            self._local.connection = self._connect()
            self._local.pid = pid
        connection: sqlite3.Connection = self._local.connection
        return connection

    def add(self, order_id: str, customer_id: str, amount: Decimal) -> None:
        """Write one order (one INSERT, committed at once)."""
        self.connection().execute(
            "INSERT INTO orders (order_id, customer_id, amount_minor, currency, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (order_id, customer_id, int(amount * 100), CURRENCY, datetime.now(UTC).isoformat()),
        )

    def close(self) -> None:
        """Close this thread's connection, if it has one."""
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            del self._local.connection, self._local.pid

    def count(self) -> int:
        """How many orders the shop holds."""
        row = self.connection().execute("SELECT count(*) FROM orders").fetchone()
        return int(row[0])


def _order() -> tuple[str, str, Decimal]:
    """The checkout form: order id, customer id and amount."""
    form = request.form
    return form["order_id"], form["customer"], Decimal(form.get("amount", "49.90"))


def _placed(order_id: str, amount: Decimal) -> str:
    return f"order {order_id}: {amount} {CURRENCY}\n"


def plain_app(directory: Path) -> Flask:
    """The shop without refkit: a hand-rolled referral cookie, and a checkout that writes
    the order to its own SQLite file."""
    app = Flask(__name__)
    orders = Orders(shop_database(directory, "plain"))
    app.extensions["bench_orders"] = orders

    @app.get("/")
    def index() -> str:
        return "shop\n"

    @app.get("/r/<path:code>")
    def landing(code: str) -> Response:
        response = redirect("/", code=302)
        response.set_cookie(
            COOKIE, code[:64], max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax"
        )
        return response

    @app.post("/checkout")
    def checkout() -> str:
        order_id, customer, amount = _order()
        orders.add(order_id, customer, amount)
        return _placed(order_id, amount)

    return app


def refkit_app(directory: Path) -> Flask:
    """The same shop with refkit on an SQLite file: refkit's landing route, and the same
    checkout with ``@track_conversion``. ``REFKIT_RAISE_ERRORS`` is on, so a refkit failure
    ("database is locked") answers 500 and counts, instead of being logged and hidden."""
    app = Flask(__name__)
    app.config.update(
        REFKIT_SECRET_KEY=SECRET,
        REFKIT_DATABASE_URL=refkit_database(directory),
        REFKIT_RULES=RULES,
        REFKIT_RAISE_ERRORS=True,
    )
    refkit = RefKit(app)
    orders = Orders(shop_database(directory, "refkit"))
    app.extensions["bench_orders"] = orders

    @app.get("/")
    def index() -> str:
        return "shop\n"

    @app.post("/checkout")
    @refkit.track_conversion
    def checkout() -> str:
        order_id, customer, amount = _order()
        orders.add(order_id, customer, amount)
        code = request.form.get("code") or None  # a referral code typed at (guest) checkout
        refkit.conversion(order_id, amount, CURRENCY, customer_id=customer, code=code)
        return _placed(order_id, amount)

    return app


class _Base(DeclarativeBase):
    pass


class JoinedOrder(_Base):
    """The joined shop's order (the same columns as :class:`Orders`' table)."""

    __tablename__ = "orders"
    order_id: Mapped[str] = mapped_column(primary_key=True)
    customer_id: Mapped[str]
    amount_minor: Mapped[int]
    currency: Mapped[str]
    created_at: Mapped[str]


def _sqlite_settings(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # The settings refkit gives its SQLite (the file is switched to WAL once, at set-up).
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


def joined_app(directory: Path) -> Flask:
    """The same shop on Flask-SQLAlchemy, refkit's tables in its database
    (``store=db.engine``) and refkit's writes in its transaction (``session=db.session``): the
    checkout adds the order, calls ``refkit.conversion(...)`` and commits both at once."""
    from flask_sqlalchemy import SQLAlchemy  # the bench extra installs it

    app = Flask(__name__)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{joined_database(directory)}",
        SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 30}},
        REFKIT_SECRET_KEY=SECRET,
        REFKIT_RULES=RULES,
        REFKIT_RAISE_ERRORS=True,
    )
    db = SQLAlchemy(model_class=_Base)
    db.init_app(app)
    with app.app_context():
        event.listen(db.engine, "connect", _sqlite_settings)
        _Base.metadata.create_all(db.engine)
    refkit = RefKit(app, store=lambda app: db.engine, session=db.session)
    app.extensions["bench_db"] = db

    @app.get("/")
    def index() -> str:
        return "shop\n"

    @app.post("/checkout")
    @refkit.track_conversion
    def checkout() -> str:
        order_id, customer, amount = _order()
        created = datetime.now(UTC).isoformat()
        db.session.add(
            JoinedOrder(
                order_id=order_id,
                customer_id=customer,
                created_at=created,
                amount_minor=int(amount * 100),
                currency=CURRENCY,
            )
        )
        code = request.form.get("code") or None
        refkit.conversion(order_id, amount, CURRENCY, customer_id=customer, code=code)
        db.session.commit()  # the order and its conversion, together
        return _placed(order_id, amount)

    return app


def from_environ() -> Flask:
    """The shop named by :data:`ENV_APP` on the files in :data:`ENV_DIR` (for gunicorn)."""
    kind, directory = os.environ.get(ENV_APP, "refkit"), os.environ.get(ENV_DIR)
    if not directory:
        raise RuntimeError(f"set {ENV_DIR} to the directory of the benchmark's databases")
    shops = {"refkit": refkit_app, "plain": plain_app, "joined": joined_app}
    if kind not in shops:
        raise RuntimeError(f"{ENV_APP} must be 'refkit', 'plain' or 'joined', not {kind!r}")
    return shops[kind](Path(directory))
