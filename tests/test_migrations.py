"""Schema creation and upgrades go through the Alembic revisions shipped in the package."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, Engine, create_engine, event, inspect, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool

import refkit
from refkit.storage.engines import engine_for_url, foreign_keys_off
from refkit.storage.migrate import (
    HEAD,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    downgrade,
    ensure_schema,
    include_name,
    upgrade,
)
from refkit.storage.schema import SCHEMA_VERSION, metadata

from .support.settings import SECRET

DATABASES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def store(store_url: str) -> Iterator[refkit.SqlStore]:
    """A store of each kind, its tables not created yet (``create=True`` is lazy)."""
    opened = refkit.open_store(store_url)
    assert isinstance(opened, refkit.SqlStore)
    yield opened
    opened.close()


@pytest.fixture
def engine(store: refkit.SqlStore) -> Engine:
    return store.engine


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        opts = {"version_table": VERSION_TABLE, "include_name": include_name, "compare_type": True}
        context = MigrationContext.configure(connection, opts=opts)
        differences: list[Any] = compare_metadata(context, metadata)
        return differences


def _refkit_tables(engine: Engine) -> set[str]:
    return {name for name in inspect(engine).get_table_names() if name.startswith("refkit_")}


def test_head_is_the_schema_version() -> None:
    assert HEAD == SCHEMA_VERSION == "0013"


def test_schema_matches_metadata(engine: Engine) -> None:
    ensure_schema(engine)
    assert _differences(engine) == []
    assert _refkit_tables(engine) == set(metadata.tables) | {VERSION_TABLE}


def test_check_constraints_are_created_with_their_names(engine: Engine) -> None:
    # compare_metadata does not look at CHECK constraints, so compare their names here.
    ensure_schema(engine)
    inspector = inspect(engine)
    for table in metadata.sorted_tables:
        declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        reflected = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert reflected == declared, table.name


def test_version_table_names_head(engine: Engine) -> None:
    assert current_revision(engine) is None
    ensure_schema(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as connection:
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    assert [row.version_num for row in rows] == [HEAD]


def test_ensure_schema_twice_is_a_no_op(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    ensure_schema(engine)
    before = _refkit_tables(engine)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("alembic ran although the database is at head")

    monkeypatch.setattr(command, "upgrade", refuse)
    ensure_schema(engine)
    assert _refkit_tables(engine) == before
    assert current_revision(engine) == HEAD


def test_a_shops_own_tables_are_left_alone(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE shop_orders (id INTEGER PRIMARY KEY, total INT)"))
        connection.execute(text("INSERT INTO shop_orders (id, total) VALUES (1, 4200)"))
    ensure_schema(engine)
    assert _differences(engine) == []
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, total FROM shop_orders")).all()
    assert [tuple(row) for row in rows] == [(1, 4200)]


def test_upgrading_keeps_rows(store: refkit.SqlStore) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store=store)
    program.create_all()
    program.record_conversion("order-1", "alice", "19.99", "EUR")
    ensure_schema(store.engine)
    stored = program.conversion("order-1")
    assert stored is not None
    assert stored.customer_id == "alice"


def test_a_revision_from_a_newer_release_is_refused(engine: Engine) -> None:
    ensure_schema(engine)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    with pytest.raises(refkit.StorageError, match="9999"):
        ensure_schema(engine)
    assert current_revision(engine) == "9999"


@DATABASES
def test_downgrade_to_base_and_upgrade_again(engine: Engine) -> None:
    ensure_schema(engine)
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert _refkit_tables(engine) == {VERSION_TABLE}
    ensure_schema(engine)
    assert current_revision(engine) == HEAD
    assert _differences(engine) == []


@DATABASES
def test_concurrent_first_runs_do_not_fail(store_url: str) -> None:
    engines = [engine_for_url(store_url) for _ in range(4)]
    barrier = threading.Barrier(len(engines))
    errors: list[Exception] = []

    def run(engine: Engine) -> None:
        barrier.wait()
        try:
            ensure_schema(engine)
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert current_revision(engines[0]) == HEAD
        assert _differences(engines[0]) == []
    finally:
        for engine in engines:
            engine.dispose()


def test_a_plain_sqlite_engine_works_too(tmp_path: Any) -> None:
    # An engine refkit did not prepare (no BEGIN IMMEDIATE hook): migrations still apply.
    engine = create_engine(f"sqlite:///{tmp_path / 'plain.db'}")
    try:
        ensure_schema(engine)
        assert current_revision(engine) == HEAD
        assert _differences(engine) == []
    finally:
        engine.dispose()


def test_upgrading_a_0001_database_with_rows_to_head_keeps_them(engine: Engine) -> None:
    upgrade(engine, "0001")
    assert current_revision(engine) == "0001"
    when = "2026-03-01 12:00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO refkit_referrers (user_id, number, created_at) "
                f"VALUES ('alice', 42, '{when}')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO refkit_referrals (referee_id, referrer_id, source, pair_low, "
                f"pair_high, created_at) VALUES ('bob', 'alice', 'link', 'alice', 'bob', '{when}')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO refkit_conversions (order_id, customer_id, amount_minor, currency, "
                f"referrer_id, created_at) VALUES ('o1', 'bob', 1999, 'EUR', 'alice', '{when}')"
            )
        )
    ensure_schema(engine)
    assert current_revision(engine) == HEAD
    assert _differences(engine) == []
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine)
    try:
        referral = program.referral_for("bob")
        assert referral is not None
        assert referral.referrer_id == "alice"
        stored = program.conversion("o1")
        assert stored is not None
        assert stored.referrer_id == "alice"
        assert program.stats_for("alice").flagged == 0
        assert program.flagged_referrals() == []
        assert program.erase("bob").startswith("refkit-erased:")  # the new tables work
    finally:
        program.store.close()


def _index_columns(engine: Engine, table: str) -> dict[str, list[str]]:
    return {
        index["name"]: [str(column) for column in index["column_names"]]
        for index in inspect(engine).get_indexes(table)
        if index["name"]
    }


@DATABASES
def test_0003_widens_the_stats_indexes_and_keeps_rows(engine: Engine) -> None:
    upgrade(engine, "0002")
    program = refkit.ReferralProgram(
        secret_key=SECRET,
        store=engine,
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.percent(10)),
    )
    try:
        program.attribute("bob", program.code_for("alice"))
        program.record_conversion("o1", "bob", "19.99", "EUR")
        before = program.stats_for("alice"), program.summary(), program.leaderboard()
        ensure_schema(engine)
        assert current_revision(engine) == HEAD
        assert _differences(engine) == []
        assert (program.stats_for("alice"), program.summary(), program.leaderboard()) == before
        assert before[0].rewards == {"pending": Decimal("2.00")}
    finally:
        program.store.close()
    assert _index_columns(engine, "refkit_conversions")["ix_refkit_conversions_referrer_net"] == [
        "referrer_id",
        "currency",
        "amount_minor",
        "refunded_minor",
    ]
    downgrade(engine, "0002")
    assert "ix_refkit_conversions_referrer_net" not in _index_columns(engine, "refkit_conversions")
    assert _index_columns(engine, "refkit_rewards")["ix_refkit_rewards_beneficiary"] == [
        "beneficiary_id",
        "status",
    ]
    assert _index_columns(engine, "refkit_referrals")["ix_refkit_referrals_referrer"] == [
        "referrer_id",
        "created_at",
    ]


@DATABASES
def test_0004_fills_the_totals_and_the_flags_referrers_from_the_rows_stored_so_far(
    engine: Engine,
) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine)
    try:
        alice, bob = program.code_for("alice"), program.code_for("bob")
        for visitor in range(5):
            program.record_visit(alice, visitor=f"v{visitor}")
        program.record_visit(bob)
        click = program.fingerprint(ip="203.0.113.7", user_agent="Firefox")
        program.attribute("carol", alice, click=click, signup=click)  # flagged: same device
        program.attribute("dave", alice)
        program.attribute("erin", bob)
        before = program.stats_for("alice"), program.stats_for("bob")
        assert (before[0].visits, before[0].signups, before[1].visits) == (5, 2, 1)
        assert (before[0].flagged, before[1].flagged) == (1, 0)
        downgrade(engine, "0003")
        assert "refkit_referrer_totals" not in inspect(engine).get_table_names()
        upgrade(engine, HEAD)  # 0004, and what this release reads
        assert (program.stats_for("alice"), program.stats_for("bob")) == before
        program.record_visit(alice)  # and they keep counting
        assert program.stats_for("alice").visits == 6
    finally:
        program.store.close()


@DATABASES
def test_0008_fills_the_balances_and_downgrades_with_spending_in_place(engine: Engine) -> None:
    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        referee_reward=refkit.Reward.points(50),
    )
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine, rules=rules)
    try:
        code = program.code_for("alice")
        for friend in ("bob", "carol"):
            program.attribute(friend, code)
            program.record_conversion(f"order-{friend}", friend, "40", "EUR")
        program.approve_due()
        program.refund("order-carol")
        program.redeem("alice", "4", "EUR", reference="cart-1")
        program.pay_out("bob", 20, None, reference="points-1")
        rewards_before = program.rewards()
        kept = [e for e in program.ledger() if e.reward_id is not None]
        downgrade(engine, "0004")
        assert "refkit_balances" not in inspect(engine).get_table_names()
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT COUNT(*) FROM refkit_ledger")).scalar_one()
        assert rows == len(kept)  # the spending entries went, the rewards' history stayed
        upgrade(engine, HEAD)
        assert _differences(engine) == []
        assert program.rewards() == rewards_before
        assert list(program.ledger()) == kept
        # the balances are filled from the approved amounts stored so far
        assert program.balance("alice", "EUR") == Decimal("10.00")
        assert program.balance("bob", None) == 50
        assert program.balance("carol", None) == 0  # reversed
        assert program.stats_for("alice").balance == Decimal("10.00")
        assert program.redeem("alice", "10", "EUR", reference="cart-2").kind == "redeemed"
        assert program.balance("alice", "EUR") == 0
    finally:
        program.store.close()


@DATABASES
def test_0007_downgrades_and_upgrades_with_revoked_codes_in_place(engine: Engine) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine)
    try:
        old = program.code_for("alice")
        program.attribute("bob", old)
        new = program.revoke_code("alice")
        downgrade(engine, "0004")
        assert "refkit_revoked_codes" not in inspect(engine).get_table_names()
        upgrade(engine, HEAD)
        assert _differences(engine) == []
        fresh = refkit.ReferralProgram(secret_key=SECRET, store=engine)
        assert fresh.resolve(new) == "alice"
        assert fresh.referral_for("bob").referrer_id == "alice"  # type: ignore[union-attr]
    finally:
        program.store.close()


@DATABASES
def test_0007_downgrades_and_upgrades_with_claims_in_place(engine: Engine) -> None:
    rules = refkit.RewardRules(referee_discount=refkit.Reward.fixed(5, "EUR"))
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine, rules=rules)
    try:
        program.attribute("bob", program.code_for("alice"))
        program.claim_discount("o1", "bob", 40, "EUR")
        program.record_conversion("o1", "bob", 35, "EUR")
        downgrade(engine, "0004")
        assert "refkit_discount_claims" not in inspect(engine).get_table_names()
        with engine.connect() as connection:  # the conversion stays
            found = connection.execute(text("SELECT COUNT(*) FROM refkit_conversions"))
            assert found.scalar() == 1
        upgrade(engine, HEAD)
        assert _differences(engine) == []
        assert program.claim_discount("o2", "bob", 40, "EUR").discount == Decimal(5)
    finally:
        program.store.close()


@DATABASES
def test_0012_downgrades_and_upgrades_with_channels_in_place(engine: Engine) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine)
    try:
        code = program.code_for("alice")
        program.record_visit(code, channel="email", utm_source="news")
        program.attribute("bob", code, channel="email", utm_medium="mail")
        program.record_conversion("order-1", "bob", "30", "EUR")
        with engine.connect() as connection, connection.begin():
            config = alembic_config(connection)
            below = ScriptDirectory.from_config(config).get_revision("0012").down_revision
            command.downgrade(config, str(below))
        columns = {c["name"] for c in inspect(engine).get_columns("refkit_referrals")}
        assert not columns & {"channel", "utm_source", "utm_medium", "utm_campaign"}
        with engine.connect() as connection, connection.begin():
            command.upgrade(alembic_config(connection), HEAD)
        assert _differences(engine) == []
        referral = program.referral_for("bob")
        assert referral is not None
        assert (referral.referrer_id, referral.channel, referral.utm_medium) == (
            "alice",
            None,
            None,
        )
        assert program.summary().visits == 1
        assert program.reports.channels()[0].channel is None  # the channels went with 0012
    finally:
        program.store.close()


def _scalar(engine: Engine, sql: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql)).scalar()


@DATABASES
def test_0009_upgrades_from_0008_with_rows_and_downgrades_with_taken_over_rewards(
    engine: Engine,
) -> None:
    """At head, bob's later order is rewarded, then taken over by an earlier one; carol's
    reward is approved. Downgrading to 0008 deletes the taken-over rewards and their ledger
    entries (they cancel out) and keeps the rest; upgrading again keeps every row, in slot
    0, and an earlier order takes over again."""
    clock = refkit.FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.percent(10),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        first_purchase_only=True,
    )
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine, rules=rules, clock=clock)
    day = timedelta(days=1)
    try:
        code = program.code_for("alice")
        for friend in ("bob", "carol", "dave"):
            program.attribute(friend, code, at=clock() - 10 * day)
        program.record_conversion("bob-late", "bob", "100", "EUR", at=clock())
        program.record_conversion("bob-early", "bob", "80", "EUR", at=clock() - 5 * day)
        program.record_conversion("carol-1", "carol", "50", "EUR", at=clock() - 2 * day)
        program.approve_due(clock())
        program.record_conversion("dave-late", "dave", "60", "EUR", at=clock())
        kept = [r for r in program.rewards(limit=100) if r.order_id != "bob-late"]
        kept_ledger = [e for e in program.ledger() if e.reward_id in {r.id for r in kept}]
        assert len(kept) == 6
        assert len(kept_ledger) == 10  # 6 accrued, 4 approved (bob-early, carol-1)

        downgrade(engine, "0008")
        assert current_revision(engine) == "0008"
        assert "slot" not in {c["name"] for c in inspect(engine).get_columns("refkit_rewards")}
        assert _scalar(engine, "SELECT COUNT(*) FROM refkit_rewards") == 6
        assert _scalar(engine, "SELECT COUNT(*) FROM refkit_ledger") == 10
        with pytest.raises(IntegrityError), engine.begin() as connection:  # one per role again
            connection.execute(
                text(
                    "INSERT INTO refkit_rewards (order_id, referee_id, referrer_id, "
                    "beneficiary_id, role, kind, value_minor, original_minor, currency, status, "
                    "created_at, due_at) SELECT 'bob-late', referee_id, referrer_id, "
                    "beneficiary_id, role, kind, value_minor, original_minor, currency, "
                    "'revoked', created_at, due_at FROM refkit_rewards WHERE referee_id = 'bob'"
                )
            )

        upgrade(engine, HEAD)  # from 0008, with rewards and a ledger referencing them
        assert current_revision(engine) == HEAD
        assert _differences(engine) == []
        assert _scalar(engine, "SELECT COUNT(*) FROM refkit_rewards WHERE slot <> 0") == 0
        assert [r for r in program.rewards(limit=100)] == kept
        assert list(program.ledger()) == kept_ledger
        # the rules hold on the upgraded table: dave's earlier order takes over
        early = program.record_conversion("dave-early", "dave", "70", "EUR", at=clock() - day)
        assert sorted(r.role for r in early.rewards) == ["referee", "referrer"]
        assert {r.status for r in program.rewards(limit=100) if r.order_id == "dave-late"} == {
            "revoked"
        }
        assert (
            program.record_conversion("carol-0", "carol", "90", "EUR", at=clock() - 3 * day).rewards
            == ()
        )  # carol's rewards are approved: they stay
    finally:
        program.store.close()


def _at_0008_with_a_reward(engine: Engine) -> None:
    program = refkit.ReferralProgram(
        secret_key=SECRET,
        store=engine,
        rules=refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR")),
    )
    program.attribute("bob", program.code_for("alice"))
    program.record_conversion("o1", "bob", "40", "EUR")
    program.store.close()
    downgrade(engine, "0008")


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_0009_inside_a_plain_transaction_fails_on_sqlite_with_foreign_keys_on(
    engine: Engine,
) -> None:
    """Why the runner switches foreign keys off: rebuilding refkit_rewards drops the table
    the ledger references, which SQLite refuses inside a transaction with them on."""
    _at_0008_with_a_reward(engine)
    with engine.connect() as connection, connection.begin():
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            command.upgrade(alembic_config(connection), "0009")
        connection.rollback()
    assert current_revision(engine) == "0008"
    ensure_schema(engine)  # the runner does it
    assert current_revision(engine) == HEAD
    assert _scalar(engine, "PRAGMA foreign_keys") == 1  # and switches them back on


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_migration_that_leaves_a_broken_foreign_key_fails_loudly_and_changes_nothing(
    engine: Engine,
) -> None:
    _at_0008_with_a_reward(engine)
    with engine.connect() as connection, foreign_keys_off(connection), connection.begin():
        connection.execute(text("DELETE FROM refkit_rewards"))  # the ledger's reward is gone
    with pytest.raises(refkit.StorageError, match=r"refkit_ledger row 1 -> refkit_rewards"):
        upgrade(engine, HEAD)
    assert current_revision(engine) == "0008"
    assert "slot" not in {c["name"] for c in inspect(engine).get_columns("refkit_rewards")}
    assert _scalar(engine, "PRAGMA foreign_keys") == 1


def test_a_migration_leaves_a_shops_sqlite_connection_as_it_found_it(tmp_path: Any) -> None:
    """Foreign keys off on a plain engine stay off; on with the shop's own connect hook, they
    are on again after the migration."""
    plain = create_engine(f"sqlite:///{tmp_path / 'plain.db'}", poolclass=StaticPool)
    keyed = create_engine(f"sqlite:///{tmp_path / 'keyed.db'}", poolclass=StaticPool)
    event.listen(keyed, "connect", lambda dbapi, _: dbapi.execute("PRAGMA foreign_keys=ON"))
    try:
        for engine, expected in ((plain, 0), (keyed, 1)):
            refkit.ReferralProgram(secret_key=SECRET, store=engine).create_all()
            assert current_revision(engine) == HEAD
            assert _scalar(engine, "PRAGMA foreign_keys") == expected
    finally:
        plain.dispose()
        keyed.dispose()


@DATABASES
def test_0010_keeps_the_ledger_and_downgrades_without_bonuses_and_grants(engine: Engine) -> None:
    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        milestones=[refkit.Milestone(2, refkit.Reward.fixed(Decimal("20"), "EUR"))],
    )
    program = refkit.ReferralProgram(secret_key=SECRET, store=engine, rules=rules)
    try:
        code = program.code_for("alice")
        for friend in ("bob", "carol"):
            program.attribute(friend, code)
            program.record_conversion(f"order-{friend}", friend, "40", "EUR")
        program.approve_due()  # 2 x 10.00 and the bonus of 20.00
        program.grant("alice", refkit.Reward.points(7), reference="g-1", reason="contest")
        program.redeem("alice", "5", "EUR", reference="cart-1")
        assert program.balance("alice", "EUR") == Decimal("35.00")
        ordered = [r for r in program.rewards() if r.order_id is not None]
        kept = [e for e in program.ledger() if e.reward_id in {r.id for r in ordered}]
        spent = [e for e in program.ledger() if e.reward_id is None]
        downgrade(engine, "0008")  # through 0009: the runner switches SQLite's keys off
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT COUNT(*) FROM refkit_ledger")).scalar_one()
            balance = connection.execute(
                text("SELECT balance_minor FROM refkit_balances WHERE currency = 'EUR'")
            ).scalar_one()
        assert rows == len(kept) + len(spent)
        assert balance == 1500  # 35.00 - the bonus's 20.00
        upgrade(engine, HEAD)
        assert _differences(engine) == []
        assert program.rewards() == ordered
        after = sorted(program.ledger(), key=lambda e: e.id)
        assert after == sorted([*kept, *spent], key=lambda e: e.id)
        assert program.balance("alice", "EUR") == Decimal("15.00")
        assert program.balance("alice", None) == 0
        program.grant("alice", refkit.Reward.points(7), reference="g-1", reason="contest")
        assert program.balance("alice", None) == 7
    finally:
        program.store.close()
