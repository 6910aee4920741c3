"""Revision 0013: the milestone, grant and ledger references are partial unique indexes.

``uq_refkit_rewards_milestone``, ``uq_refkit_rewards_reference`` and
``uq_refkit_ledger_reference`` index only the rows that set their last column: the database
still refuses a second bonus for one milestone, a second grant or ledger entry with one
reference (hand-written SQL included), while the rows that leave them NULL (every order's
reward and its ledger entries) are not in them at all. On every store, and through the
migration from 0012 and back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import IntegrityError

import refkit
from refkit import Milestone, Reward
from refkit.storage.migrate import (
    HEAD,
    VERSION_TABLE,
    current_revision,
    downgrade,
    include_name,
    upgrade,
)
from refkit.storage.schema import metadata

Make = Callable[..., refkit.ReferralProgram]
SQL_STORES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
RULES = refkit.RewardRules(
    referrer_reward=Reward.fixed(Decimal("10"), "EUR"),
    referee_reward=Reward.points(50),
    milestones=[Milestone(2, Reward.fixed(Decimal("20"), "EUR"))],
)
AT = datetime(2026, 3, 1, 12, 0)  # stored naive UTC, as refkit stores it
#: Each key: its table and columns (SQLite names these in its error, PostgreSQL the index).
KEYS = {
    "uq_refkit_rewards_milestone": ("refkit_rewards", ("referrer_id", "milestone")),
    "uq_refkit_rewards_reference": ("refkit_rewards", ("reference",)),
    "uq_refkit_ledger_reference": ("refkit_ledger", ("reference",)),
}
BONUS = (
    "INSERT INTO refkit_rewards (referrer_id, beneficiary_id, role, kind, value_minor, "
    "original_minor, status, created_at, due_at, milestone) "
    "VALUES ('alice', 'alice', 'referrer', 'points', 1, 1, 'approved', :at, :at, :key)"
)
GRANT = (
    "INSERT INTO refkit_rewards (referrer_id, beneficiary_id, role, kind, value_minor, "
    "original_minor, status, created_at, due_at, reference, reason) "
    "VALUES ('carol', 'carol', 'grant', 'points', 1, 1, 'approved', :at, :at, :key, 'by hand')"
)
SPEND = (
    "INSERT INTO refkit_ledger (beneficiary_id, kind, pending_minor, approved_minor, currency, "
    "created_at, reference) VALUES ('carol', 'redeemed', 0, -100, 'EUR', :at, :key)"
)
#: A hand-written row for each key: (statement, a key already taken, a key still free).
ROWS = {
    "uq_refkit_rewards_milestone": (BONUS, 2, 3),
    "uq_refkit_rewards_reference": (GRANT, "g-1", "g-2"),
    "uq_refkit_ledger_reference": (SPEND, "cart-1", "cart-2"),
}


def _engine(program: refkit.ReferralProgram) -> Engine:
    engine = getattr(program.store, "engine", None)
    assert isinstance(engine, Engine)
    return engine


def _with_everything(make_program: Make) -> refkit.ReferralProgram:
    """alice refers bob and carol (two order rewards each, their ledger entries), reaches
    her milestone of 2, is granted points (``g-1``) and redeems (``cart-1``); bob's points are
    paid out (``points-1``)."""
    program = make_program(rules=RULES)
    code = program.code_for("alice")
    for friend in ("bob", "carol"):
        program.attribute(friend, code)
        program.record_conversion(f"order-{friend}", friend, "40", "EUR")
    program.approve_due()
    program.grant("alice", Reward.points(7), reference="g-1", reason="contest")
    program.redeem("alice", "5", "EUR", reference="cart-1")
    program.pay_out("bob", 20, None, reference="points-1")
    return program


def _run(connection: Connection, name: str, key: object) -> None:
    connection.execute(text(ROWS[name][0]), {"at": AT, "key": key})


def _assert_refused(engine: Engine) -> None:
    """Each key refuses a taken value (naming itself) and admits a free one (rolled back)."""
    for name, (statement, taken, free) in ROWS.items():
        table, columns = KEYS[name]
        with engine.connect() as connection, connection.begin() as transaction:
            _run(connection, name, free)  # the row itself is fine...
            transaction.rollback()
        with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
            _run(connection, name, taken)  # ...but not with a key already used
        if engine.dialect.name == "postgresql":
            assert raised.value.orig.diag.constraint_name == name  # type: ignore[union-attr]
        else:
            named = ", ".join(f"{table}.{column}" for column in columns)
            assert f"UNIQUE constraint failed: {named}" in str(raised.value), statement


def _indexes(engine: Engine) -> dict[str, str]:
    """The definitions of the three keys' indexes, as the database stores them."""
    if engine.dialect.name == "postgresql":
        query = "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'uq_refkit_%'"
    else:
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'uq_refkit_%'"
        )
    with engine.connect() as connection:
        found = {name: sql for name, sql in connection.execute(text(query))}
    return {name: found[name] for name in KEYS if name in found}


def _unique_constraints(engine: Engine) -> set[str]:
    inspector = inspect(engine)
    tables = {table for table, _ in KEYS.values()}
    return {
        str(unique["name"])
        for table in tables
        for unique in inspector.get_unique_constraints(table)
        if unique["name"]
    }


def _assert_partial(engine: Engine) -> None:
    definitions = _indexes(engine)
    assert set(definitions) == set(KEYS)
    for name, (table, columns) in KEYS.items():
        sql = " ".join(definitions[name].split()).replace("public.", "")
        indexed = ", ".join(columns)
        assert sql.startswith(f"CREATE UNIQUE INDEX {name} ON {table}"), sql
        assert f"({indexed})" in sql, sql
        assert sql.endswith(f"WHERE ({columns[-1]} IS NOT NULL)") or sql.endswith(
            f"WHERE {columns[-1]} IS NOT NULL"
        ), sql
    assert not _unique_constraints(engine) & set(KEYS)  # indexes, no longer constraints


def test_the_database_still_refuses_a_key_used_twice(make_program: Make) -> None:
    program = _with_everything(make_program)
    assert [r.milestone for r in program.rewards(user_id="alice", limit=100) if r.milestone] == [2]
    _assert_refused(_engine(program))


def test_rows_without_a_milestone_or_reference_are_never_in_conflict(make_program: Make) -> None:
    program = _with_everything(make_program)
    program.attribute("dave", program.code_for("alice"))
    program.record_conversion("order-dave", "dave", "40", "EUR")
    with _engine(program).connect() as connection:
        plain_rewards = connection.execute(
            text(
                "SELECT COUNT(*) FROM refkit_rewards WHERE referrer_id = 'alice' "
                "AND milestone IS NULL AND reference IS NULL"
            )
        ).scalar_one()
        plain_entries = connection.execute(
            text("SELECT COUNT(*) FROM refkit_ledger WHERE reference IS NULL")
        ).scalar_one()
    assert plain_rewards == 6  # three orders, a reward for each side
    assert plain_entries == 14  # 8 rewards accrued, the 6 before dave's approved


def test_the_keys_are_partial_unique_indexes(make_program: Make) -> None:
    program = make_program()
    program.create_all()
    _assert_partial(_engine(program))


def test_grants_redemptions_and_milestones_stay_once_per_key(make_program: Make) -> None:
    program = _with_everything(make_program)
    again = program.grant("alice", Reward.points(7), reference="g-1", reason="contest")
    assert again.reference == "g-1"
    with pytest.raises(refkit.ConflictError, match="g-1"):
        program.grant("carol", Reward.points(7), reference="g-1", reason="contest")
    assert program.redeem("alice", "5", "EUR", reference="cart-1").reference == "cart-1"
    with pytest.raises(refkit.ConflictError, match="points-1"):
        program.pay_out("bob", 21, None, reference="points-1")
    program.approve_due()
    assert program.balance("alice", "EUR") == Decimal("35.00")  # 2 x 10 + 20 - 5, once each
    assert program.balance("alice", None) == 7
    assert program.balance("bob", None) == 30


# -- the migration ------------------------------------------------------------------------


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        opts = {"version_table": VERSION_TABLE, "include_name": include_name, "compare_type": True}
        context = MigrationContext.configure(connection, opts=opts)
        differences: list[Any] = compare_metadata(context, metadata)
        return differences


def _rows(engine: Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return [
            [tuple(row) for row in connection.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
            for t in ("refkit_rewards", "refkit_ledger", "refkit_balances")
        ]


@SQL_STORES
def test_0013_upgrades_from_0012_with_every_kind_of_row_and_back(make_program: Make) -> None:
    program = _with_everything(make_program)
    engine = _engine(program)
    rewards, entries = program.rewards(limit=100), program.ledger()
    before = _rows(engine)
    assert {r.milestone for r in rewards} == {None, 2}
    assert {e.reference for e in entries} == {None, "cart-1", "points-1"}

    downgrade(engine, "0012")
    assert current_revision(engine) == "0012"
    assert _unique_constraints(engine) >= set(KEYS)  # constraints again: whole-table keys
    assert not [sql for sql in _indexes(engine).values() if "WHERE" in sql]
    assert _rows(engine) == before
    _assert_refused(engine)

    upgrade(engine, HEAD)
    assert current_revision(engine) == HEAD
    assert _differences(engine) == []
    _assert_partial(engine)
    assert _rows(engine) == before
    _assert_refused(engine)
    assert program.rewards(limit=100) == rewards
    assert program.ledger() == entries
    # and the program keeps each key once on the migrated tables
    assert program.grant("alice", Reward.points(7), reference="g-1", reason="contest") in rewards
    assert program.redeem("alice", "5", "EUR", reference="cart-1") in entries
    program.approve_due()
    assert program.balance("alice", "EUR") == Decimal("35.00")
    program.attribute("dave", program.code_for("alice"))
    program.record_conversion("order-dave", "dave", "40", "EUR")
    program.approve_due()
    assert [r.milestone for r in program.rewards(user_id="alice", limit=100) if r.milestone] == [2]
