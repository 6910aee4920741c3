"""One transaction with the shop's order (``connection=``): refkit writes in the caller's
transaction, commits nothing, and fires its events after the caller's commit only.

Run on an SQLite file and PostgreSQL: the memory store's database is private, so it refuses.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import refkit

from .support.settings import SECRET

metadata = MetaData()
orders = Table(
    "shop_orders", metadata, Column("id", Integer, primary_key=True), Column("note", String(40))
)

RULES = refkit.RewardRules(referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"))


@pytest.fixture(params=["sqlite", "postgres"])
def shop_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The shop's own engine (refkit's tables live beside the shop's)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'shop.db'}"
    else:
        url = request.getfixturevalue("store_url_postgres")
    engine = create_engine(url)
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)
    engine.dispose()


@pytest.fixture
def store_url_postgres(postgres_database: str) -> str:
    from .support.settings import clean_postgres

    clean_postgres(postgres_database)
    return postgres_database


@pytest.fixture
def events() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def joined_program(
    shop_engine: Engine, clock: refkit.FrozenClock, events: list[tuple[str, Any]]
) -> refkit.ReferralProgram:
    program = refkit.ReferralProgram(secret_key=SECRET, store=shop_engine, rules=RULES, clock=clock)
    program.create_all()
    for name in refkit.EVENTS:
        program.on(name, lambda record, name=name: events.append((name, record)))
    program.attribute("bob", program.code_for("alice"))
    events.clear()
    return program


def _names(events: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _record in events]


def _shop_notes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(select(orders.c.note).order_by(orders.c.id)).scalars())


def test_a_rolled_back_session_leaves_nothing_and_fires_nothing(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with Session(shop_engine) as session:
        session.execute(orders.insert().values(note="order 1"))
        conversion = joined_program.record_conversion(
            "o-1", "bob", "50.00", "EUR", connection=session
        )
        assert len(conversion.rewards) == 1
        session.rollback()
    assert events == []
    assert joined_program.conversion("o-1") is None
    assert _shop_notes(shop_engine) == []


def test_a_committed_session_stores_both_and_fires_events_once_after_the_commit(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with Session(shop_engine) as session:
        session.execute(orders.insert().values(note="order 1"))
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=session)
        assert events == []  # not yet: the shop has not committed
        session.commit()
        assert _names(events) == ["conversion.recorded", "reward.created"]
        session.execute(orders.insert().values(note="order 2"))
        session.commit()  # a later commit of the same session fires nothing again
    assert _names(events) == ["conversion.recorded", "reward.created"]
    stored = joined_program.conversion("o-1")
    assert stored is not None
    assert stored.referrer_id == "alice"
    assert _shop_notes(shop_engine) == ["order 1", "order 2"]


def test_a_replay_inside_the_joined_transaction_creates_nothing_new(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with Session(shop_engine) as session:
        first = joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=session)
        again = joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=session)
        assert again == first
        session.commit()
    assert _names(events) == ["conversion.recorded", "reward.created"]
    assert len(joined_program.rewards(user_id="alice")) == 1


def test_a_refusal_leaves_the_shops_transaction_usable(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    joined_program.record_conversion("o-1", "bob", "50.00", "EUR")
    bobs_code = joined_program.code_for("bob")  # before: on SQLite the shop holds the write lock
    events.clear()
    with Session(shop_engine) as session:
        session.execute(orders.insert().values(note="before"))
        with pytest.raises(refkit.ConflictError):
            joined_program.record_conversion("o-1", "bob", "99.00", "EUR", connection=session)
        with pytest.raises(refkit.SelfReferral):
            joined_program.attribute("alice", bobs_code, connection=session)
        session.execute(orders.insert().values(note="after"))
        joined_program.record_conversion("o-2", "bob", "20.00", "EUR", connection=session)
        session.commit()
    assert _shop_notes(shop_engine) == ["before", "after"]
    assert _names(events) == ["conversion.recorded"]  # o-2: bob's reward was earned by o-1
    assert joined_program.referral_for("alice") is None


def test_a_rolled_back_savepoint_drops_the_events_of_the_writes_it_held(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with Session(shop_engine) as session:
        session.execute(orders.insert().values(note="kept"))
        savepoint = session.begin_nested()
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=session)
        savepoint.rollback()
        with session.begin_nested():  # a released savepoint keeps its writes
            joined_program.attribute("carol", joined_program.code_for("alice"), connection=session)
        session.commit()
    assert _names(events) == ["referral.created"]
    assert joined_program.conversion("o-1") is None
    assert joined_program.referral_for("carol") is not None
    assert _shop_notes(shop_engine) == ["kept"]


def test_a_bare_connection_fires_after_its_commit_and_never_after_a_rollback(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with shop_engine.connect() as connection:
        connection.execute(orders.insert().values(note="rolled back"))
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=connection)
        connection.rollback()
    assert events == []
    assert joined_program.conversion("o-1") is None
    with shop_engine.begin() as connection:
        connection.execute(orders.insert().values(note="committed"))
        joined_program.record_conversion("o-2", "bob", "50.00", "EUR", connection=connection)
        assert events == []
    assert _names(events) == ["conversion.recorded", "reward.created"]
    assert _shop_notes(shop_engine) == ["committed"]


def test_a_connection_of_a_store_made_from_a_url_joins_too(
    shop_engine: Engine, clock: refkit.FrozenClock, events: list[tuple[str, Any]]
) -> None:
    url = shop_engine.url.render_as_string(hide_password=False)
    program = refkit.ReferralProgram(secret_key=SECRET, store=url, rules=RULES, clock=clock)
    program.on("conversion.recorded", lambda record: events.append(("conversion", record)))
    code = program.code_for("alice")
    with program.store.engine.connect() as connection:  # refkit's own engine, not begun
        program.record_conversion("o-1", "bob", "50.00", "EUR", code=code, connection=connection)
        connection.execute(orders.insert().values(note="with the conversion"))
        connection.commit()
    assert _names(events) == ["conversion"]
    assert _shop_notes(shop_engine) == ["with the conversion"]
    stored = program.conversion("o-1")
    assert stored is not None
    assert stored.referrer_id == "alice"
    program.store.close()


def test_refund_approve_and_visits_join_the_transaction_too(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with Session(shop_engine) as session:
        conversion = joined_program.record_conversion(
            "o-1", "bob", "50.00", "EUR", connection=session
        )
        reward = joined_program.rewards(user_id="alice")  # another connection: not committed
        assert reward == []
        joined_program.record_visit(joined_program.code_for("alice"), connection=session)
        joined_program.refund("o-1", "10.00", connection=session)  # reads what it wrote
        session.rollback()
    assert events == []
    assert joined_program.stats_for("alice").visits == 0
    conversion = joined_program.record_conversion("o-1", "bob", "50.00", "EUR")
    reward_id = joined_program.rewards(user_id="alice")[0].id
    events.clear()
    with Session(shop_engine) as session:
        approved = joined_program.approve(reward_id, connection=session)
        assert approved is not None
        assert approved.status == "approved"
        session.commit()
    assert _names(events) == ["reward.approved"]
    assert conversion.rewards[0].status == "pending"


def test_connection_must_be_on_the_stores_database(
    joined_program: refkit.ReferralProgram, tmp_path: Path
) -> None:
    other = create_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with Session(other) as session, pytest.raises(refkit.ConfigurationError, match="another"):
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=session)
    with pytest.raises(refkit.ConfigurationError, match="Connection or Session"):
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection="db")  # type: ignore[arg-type]
    assert joined_program.conversion("o-1") is None
    other.dispose()


def test_the_memory_store_refuses_connection(clock: refkit.FrozenClock) -> None:
    program = refkit.ReferralProgram(secret_key=SECRET, store="memory://", clock=clock)
    with (
        program.store.engine.connect() as connection,
        pytest.raises(refkit.ConfigurationError, match="memory store"),
    ):
        program.record_conversion("o-1", "bob", "50.00", "EUR", connection=connection)


def test_a_rolled_back_savepoint_of_a_bare_connection_drops_its_events(
    joined_program: refkit.ReferralProgram, shop_engine: Engine, events: list[tuple[str, Any]]
) -> None:
    with shop_engine.connect() as connection:
        savepoint = connection.begin_nested()
        joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=connection)
        savepoint.rollback()
        connection.execute(orders.insert().values(note="kept"))
        connection.commit()
    assert events == []
    assert joined_program.conversion("o-1") is None
    assert _shop_notes(shop_engine) == ["kept"]


@pytest.mark.parametrize("use_session", [True, False])
def test_a_commit_that_fails_fires_nothing(
    joined_program: refkit.ReferralProgram,
    shop_engine: Engine,
    events: list[tuple[str, Any]],
    use_session: bool,
) -> None:
    """A real failing COMMIT: PostgreSQL checks a deferred constraint of the shop's at COMMIT."""
    if shop_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no deferred constraints to fail a COMMIT")
    with shop_engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TABLE shop_deferred (n int, "
                "CONSTRAINT once UNIQUE (n) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    try:
        owner: Any = Session(shop_engine) if use_session else shop_engine.connect()
        with owner:
            owner.execute(text("INSERT INTO shop_deferred VALUES (1), (1)"))  # fails at COMMIT
            joined_program.record_conversion("o-1", "bob", "50.00", "EUR", connection=owner)
            with pytest.raises(IntegrityError):
                owner.commit()
            owner.rollback()
        assert events == []
        assert joined_program.conversion("o-1") is None
    finally:
        with shop_engine.begin() as connection:
            connection.execute(text("DROP TABLE shop_deferred"))


def test_spending_credit_joins_the_transaction_and_a_rollback_gives_it_back(
    joined_program: refkit.ReferralProgram, shop_engine: Engine
) -> None:
    program = joined_program
    converted = program.record_conversion("o1", "bob", Decimal("40"), "EUR")
    program.approve(converted.rewards[0].id)  # alice has 5.00 EUR of credit
    for spend in (program.redeem, program.pay_out):
        with Session(shop_engine) as session:
            entry = spend("alice", "2", "EUR", reference=f"r-{spend.__name__}", connection=session)
            session.execute(orders.insert().values(note=f"spent {entry.kind}"))
            session.rollback()
        assert program.balance("alice", "EUR") == Decimal("5.00")
    with Session(shop_engine) as session:
        program.redeem("alice", "2", "EUR", reference="kept", connection=session)
        session.execute(orders.insert().values(note="order paid with credit"))
        session.commit()
    assert program.balance("alice", "EUR") == Decimal("3.00")
    assert _shop_notes(shop_engine) == ["order paid with credit"]


def test_a_discount_claimed_in_a_rolled_back_order_is_free_again(
    shop_engine: Engine, clock: refkit.FrozenClock
) -> None:
    rules = refkit.RewardRules(referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"))
    program = refkit.ReferralProgram(secret_key=SECRET, store=shop_engine, rules=rules, clock=clock)
    program.attribute("bob", program.code_for("alice"))
    with Session(shop_engine) as session:
        offer = program.claim_discount("o1", "bob", "40", "EUR", connection=session)
        assert offer.discount == Decimal("5")
        session.rollback()  # the payment failed: the order and its claim go together
    assert program.claim_discount("o2", "bob", "40", "EUR").discount == Decimal("5")
    with Session(shop_engine) as session:
        again = program.claim_discount("o3", "bob", "40", "EUR", connection=session)
        assert again.reasons == ("discount_already_claimed",)
        session.commit()


def test_a_grant_and_a_milestone_join_the_transaction_and_fire_after_its_commit(
    shop_engine: Engine, clock: refkit.FrozenClock, events: list[tuple[str, Any]]
) -> None:
    rules = refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        milestones=[refkit.Milestone(1, refkit.Reward.points(10))],
    )
    program = refkit.ReferralProgram(secret_key=SECRET, store=shop_engine, rules=rules, clock=clock)
    program.on("reward.granted", lambda record: events.append(("reward.granted", record)))
    program.on("milestone.reached", lambda record: events.append(("milestone.reached", record)))
    points = refkit.Reward.points(3)
    with Session(shop_engine) as session:
        program.grant("alice", points, reference="g-1", reason="sorry", connection=session)
        session.rollback()
    assert events == []
    assert program.balance("alice", None) == 0
    with Session(shop_engine) as session:
        program.grant("alice", points, reference="g-1", reason="sorry", connection=session)
        assert events == []
        session.commit()
    assert _names(events) == ["reward.granted"]
    program.attribute("bob", program.code_for("alice"))
    reward = program.record_conversion("o-1", "bob", Decimal("40"), "EUR").rewards[0]
    with Session(shop_engine) as session:
        program.approve(reward.id, connection=session)
        session.rollback()
    assert _names(events) == ["reward.granted"]
    with Session(shop_engine) as session:
        program.approve(reward.id, connection=session)
        session.commit()
    assert _names(events) == ["reward.granted", "milestone.reached"]
    assert program.balance("alice", None) == 13
