"""Revision 0014: the referrer's indexes on orders and the channel's on visits leave out the
rows with no referrer / no channel, and the reports still read them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

import refkit
from refkit.storage.migrate import current_revision, downgrade, upgrade

from .support.settings import SECRET

DATABASES = pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)

#: index -> the condition it is partial on
PARTIAL = {
    "ix_refkit_conversions_referrer": "referrer_id IS NOT NULL",
    "ix_refkit_conversions_referrer_net": "referrer_id IS NOT NULL",
    "ix_refkit_visits_channel": "channel IS NOT NULL",
}


@pytest.fixture
def program(store_url: str) -> Iterator[refkit.ReferralProgram]:
    made = refkit.ReferralProgram(secret_key=SECRET, store=store_url)
    yield made
    made.store.close()


def _definitions(engine: Engine) -> dict[str, str]:
    """Each index's definition as the database prints it."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            )
        else:
            rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
        return {name: sql or "" for name, sql in rows}


def _condition(definition: str) -> str | None:
    """The WHERE of an index definition, without PostgreSQL's parentheses."""
    if " WHERE " not in definition:
        return None
    return definition.split(" WHERE ", 1)[1].strip().strip("()")


def _story(program: refkit.ReferralProgram) -> None:
    code = program.code_for("alice")
    program.record_visit(code, channel="email")
    program.record_visit(code)
    program.attribute("bob", code)
    program.record_conversion("o-bob", "bob", "40", "EUR")
    program.record_conversion("o-solo", "carol", "25", "EUR")  # nobody's referee


def _reports(program: refkit.ReferralProgram) -> Any:
    summary = program.summary()
    return (
        program.stats_for("alice"),
        program.leaderboard(),
        (summary.visits, summary.conversions),
        program.summary(channel="email").visits,
        [(c.channel, c.visits) for c in program.reports.channels()],
    )


@DATABASES
def test_the_indexes_leave_out_rows_without_a_referrer_or_channel(
    program: refkit.ReferralProgram,
) -> None:
    _story(program)
    definitions = _definitions(program.store.engine)
    for name, condition in PARTIAL.items():
        assert _condition(definitions[name]) == condition, definitions[name]


@DATABASES
def test_0014_downgrades_to_full_indexes_and_upgrades_with_rows_in_place(
    program: refkit.ReferralProgram,
) -> None:
    _story(program)
    engine = program.store.engine
    before = _reports(program)
    downgrade(engine, "0013")
    assert current_revision(engine) == "0013"
    definitions = _definitions(engine)
    assert all(_condition(definitions[name]) is None for name in PARTIAL)
    upgrade(engine, "0014")
    assert _reports(program) == before
    definitions = _definitions(engine)
    assert all(_condition(definitions[name]) == PARTIAL[name] for name in PARTIAL)


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_referrers_totals_are_still_read_from_the_index_alone(
    program: refkit.ReferralProgram,
) -> None:
    """SQLite uses a partial index when the query implies its condition: ``referrer_id =``
    does, and the stats query reads the covering index, never the table."""
    _story(program)
    with program.store.engine.connect() as connection:
        plan = connection.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT currency, sum(amount_minor - refunded_minor) "
                "FROM refkit_conversions WHERE referrer_id = :referrer GROUP BY currency"
            ),
            {"referrer": "alice"},
        ).all()
    assert any("COVERING INDEX ix_refkit_conversions_referrer_net" in row[-1] for row in plan), plan
