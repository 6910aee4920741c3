"""The demo shop's own tables (users, products, orders) in an SQLite file, via :mod:`sqlite3`.

refkit keeps its tables in its own file next to this one (``refkit.db`` in the instance
folder); the shop only stores user ids, and refkit only ever sees those ids as strings.
Amounts are stored as decimal strings and read back as :class:`~decimal.Decimal`.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from flask import Flask, current_app, g

__all__ = [
    "Order",
    "Product",
    "User",
    "close_request_connection",
    "connect",
    "connection",
    "create_order",
    "create_schema",
    "create_user",
    "get_order",
    "get_product",
    "get_meta",
    "get_user",
    "init_app",
    "list_orders",
    "list_products",
    "new_reference",
    "product_by_slug",
    "set_meta",
    "upsert_product",
    "user_by_email",
    "user_names",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    is_admin INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reference TEXT NOT NULL UNIQUE,
    user_id INTEGER NOT NULL REFERENCES users (id),
    product_id INTEGER NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, id);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

CURRENCY = "EUR"


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    email: str
    password_hash: str
    is_admin: bool
    created_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> User:
        return cls(
            id=row["id"],
            name=row["name"],
            email=row["email"],
            password_hash=row["password_hash"],
            is_admin=bool(row["is_admin"]),
            created_at=datetime.fromisoformat(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Product:
    id: int
    slug: str
    name: str
    description: str
    price: Decimal

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Product:
        return cls(
            id=row["id"],
            slug=row["slug"],
            name=row["name"],
            description=row["description"],
            price=Decimal(row["price"]),
        )


@dataclass(frozen=True, slots=True)
class Order:
    id: int
    reference: str
    user_id: int
    product_id: int
    product_name: str
    quantity: int
    total: Decimal
    currency: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Order:
        return cls(
            id=row["id"],
            reference=row["reference"],
            user_id=row["user_id"],
            product_id=row["product_id"],
            product_name=row["product_name"],
            quantity=row["quantity"],
            total=Decimal(row["total"]),
            currency=row["currency"],
            created_at=datetime.fromisoformat(row["created_at"]),
        )


def connect(path: str, *, autocommit: bool = False) -> sqlite3.Connection:
    """A connection to the shop's file (rows by name, foreign keys on, WAL)."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None if autocommit else "DEFERRED")
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def create_schema(path: str) -> None:
    """Create the shop's tables if they do not exist yet (idempotent)."""
    conn = connect(path, autocommit=True)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.executescript(SCHEMA)
    finally:
        conn.close()


def connection() -> sqlite3.Connection:
    """The current app context's connection (opened on first use, closed at teardown)."""
    conn = g.get("shop_db")
    if conn is None:
        conn = connect(current_app.config["SHOP_DATABASE"])
        g.shop_db = conn
    return conn  # type: ignore[no-any-return]


def close_request_connection(_error: BaseException | None = None) -> None:
    conn = g.pop("shop_db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    create_schema(app.config["SHOP_DATABASE"])
    app.teardown_appcontext(close_request_connection)


def now() -> datetime:
    return datetime.now(UTC)


# -- users ----------------------------------------------------------------------------------


def create_user(
    conn: sqlite3.Connection,
    name: str,
    email: str,
    password_hash: str,
    *,
    is_admin: bool = False,
    at: datetime | None = None,
) -> User:
    """Insert a user; :class:`sqlite3.IntegrityError` if the email is taken."""
    when = (at or now()).isoformat()
    cursor = conn.execute(
        "INSERT INTO users (name, email, password_hash, is_admin, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (name, email, password_hash, int(is_admin), when),
    )
    user = get_user(conn, _lastrowid(cursor))
    assert user is not None
    return user


def get_user(conn: sqlite3.Connection, user_id: int) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    return None if row is None else User.from_row(row)


def user_by_email(conn: sqlite3.Connection, email: str) -> User | None:
    row = conn.execute("SELECT * FROM users WHERE email = ?", (email,)).fetchone()
    return None if row is None else User.from_row(row)


def user_names(conn: sqlite3.Connection, ids: list[str]) -> dict[str, str]:
    """Display names for refkit's (string) user ids; unknown ids are left out."""
    numbers = sorted({int(i) for i in ids if i.isdigit()})
    if not numbers:
        return {}
    marks = ", ".join("?" for _ in numbers)
    rows = conn.execute(f"SELECT id, name FROM users WHERE id IN ({marks})", numbers)  # noqa: S608
    return {str(row["id"]): row["name"] for row in rows}


# -- products -------------------------------------------------------------------------------


def upsert_product(
    conn: sqlite3.Connection, slug: str, name: str, description: str, price: Decimal
) -> None:
    conn.execute(
        "INSERT INTO products (slug, name, description, price) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (slug) DO NOTHING",
        (slug, name, description, str(price)),
    )


def list_products(conn: sqlite3.Connection) -> list[Product]:
    rows = conn.execute("SELECT * FROM products ORDER BY id").fetchall()
    return [Product.from_row(row) for row in rows]


def get_product(conn: sqlite3.Connection, product_id: int) -> Product | None:
    row = conn.execute("SELECT * FROM products WHERE id = ?", (product_id,)).fetchone()
    return None if row is None else Product.from_row(row)


def product_by_slug(conn: sqlite3.Connection, slug: str) -> Product | None:
    row = conn.execute("SELECT * FROM products WHERE slug = ?", (slug,)).fetchone()
    return None if row is None else Product.from_row(row)


# -- orders ---------------------------------------------------------------------------------

_ORDER_QUERY = (
    "SELECT orders.*, products.name AS product_name FROM orders"
    " JOIN products ON products.id = orders.product_id"
)


def new_reference() -> str:
    """A fresh, unguessable order reference such as ``DS-4F1C09A2``."""
    return f"DS-{secrets.token_hex(4).upper()}"


def create_order(
    conn: sqlite3.Connection,
    user: User,
    product: Product,
    quantity: int,
    *,
    reference: str | None = None,
    at: datetime | None = None,
    paid_less: Decimal = Decimal(0),
) -> Order:
    """Insert an order for ``quantity`` times ``product``, priced now, in EUR; ``paid_less``
    (the friend's discount and the credit spent) comes off the total charged."""
    total = (product.price * quantity - paid_less).quantize(Decimal("0.01"))
    cursor = conn.execute(
        "INSERT INTO orders (reference, user_id, product_id, quantity, total, currency,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            reference or new_reference(),
            user.id,
            product.id,
            quantity,
            str(total),
            CURRENCY,
            (at or now()).isoformat(),
        ),
    )
    row = conn.execute(f"{_ORDER_QUERY} WHERE orders.id = ?", (_lastrowid(cursor),)).fetchone()
    return Order.from_row(row)


def get_order(conn: sqlite3.Connection, reference: str) -> Order | None:
    row = conn.execute(f"{_ORDER_QUERY} WHERE orders.reference = ?", (reference,)).fetchone()
    return None if row is None else Order.from_row(row)


def list_orders(conn: sqlite3.Connection, user_id: int) -> list[Order]:
    rows = conn.execute(
        f"{_ORDER_QUERY} WHERE orders.user_id = ? ORDER BY orders.id DESC", (user_id,)
    ).fetchall()
    return [Order.from_row(row) for row in rows]


# -- meta -----------------------------------------------------------------------------------


def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row["value"])


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _lastrowid(cursor: sqlite3.Cursor) -> int:
    rowid = cursor.lastrowid
    if rowid is None:  # pragma: no cover - sqlite always sets it after an INSERT
        raise RuntimeError("sqlite did not report the new row's id")
    return rowid
