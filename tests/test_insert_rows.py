"""``insert_ignore_rows``: several rows in one statement, each refused alone by a unique
constraint, and the keys it returns are the stored ones (SQLite's lastrowid arithmetic and its
read-back after a partly refused insert; PostgreSQL's RETURNING)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

import refkit
from refkit.storage.dialects import insert_ignore_rows
from refkit.storage.schema import rewards

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _row(order_id: str, role: str, beneficiary: str) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "referee_id": "bob",
        "referrer_id": "alice",
        "beneficiary_id": beneficiary,
        "role": role,
        "kind": "fixed",
        "value_minor": 500,
        "original_minor": 500,
        "currency": "EUR",
        "status": "pending",
        "created_at": AT,
        "due_at": AT,
    }


def _stored(connection: Connection) -> dict[tuple[str, str], int]:
    query = select(rewards.c.order_id, rewards.c.role, rewards.c.id)
    return {(order, role): key for order, role, key in connection.execute(query)}


def test_rows_inserted_together_and_refused_alone(program: refkit.ReferralProgram) -> None:
    program.attribute("bob", program.code_for("alice"))
    for order in ("o1", "o2", "o3"):
        program.record_conversion(order, "bob", "80", "EUR")  # no rules: no rewards

    def work(connection: Connection) -> None:
        first = insert_ignore_rows(
            connection,
            rewards,
            [_row("o1", "referrer", "alice"), _row("o1", "referee", "bob")],
            by="role",
            owner="order_id",
        )
        stored = _stored(connection)
        assert first == {"referrer": stored["o1", "referrer"], "referee": stored["o1", "referee"]}
        # one reward per referee and role: both refused now
        again = [_row("o2", "referrer", "alice"), _row("o2", "referee", "bob")]
        assert insert_ignore_rows(connection, rewards, again, by="role", owner="order_id") == {}
        assert insert_ignore_rows(connection, rewards, [], by="role", owner="order_id") == {}

    program.store.transaction(work)

    def partly(connection: Connection) -> None:
        connection.execute(rewards.delete().where(rewards.c.role == "referrer"))
        rows = [_row("o3", "referee", "bob"), _row("o3", "referrer", "alice")]
        keys = insert_ignore_rows(connection, rewards, rows, by="role", owner="order_id")
        assert keys == {"referrer": _stored(connection)["o3", "referrer"]}

    program.store.transaction(partly)
