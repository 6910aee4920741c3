"""Dates are stored in SQLite as the text SQLAlchemy's ``DATETIME`` writes, whoever writes them.

refkit writes its SQLite dates with a faster formatter of its own
(:meth:`refkit.storage.schema.UTCDateTime.bind_processor`); the rows must stay byte for byte what
SQLAlchemy writes, so that comparisons in SQL (``created_at <= :at``), indexes and a shop's own
queries on refkit's tables see one format.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from refkit.storage.schema import UTCDateTime

_SQLITE = sqlite.dialect()
_OURS = UTCDateTime().dialect_impl(_SQLITE).bind_processor(_SQLITE)
_SQLALCHEMY = sqlite.DATETIME().bind_processor(_SQLITE)

zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
moments = st.datetimes(
    min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=zones
)


@given(moments)
def test_sqlite_dates_are_stored_as_sqlalchemy_stores_them(moment: datetime) -> None:
    assert _OURS is not None
    assert _SQLALCHEMY is not None
    assert _OURS(moment) == _SQLALCHEMY(moment.astimezone(UTC).replace(tzinfo=None))


def test_whole_seconds_keep_six_digits_of_microseconds() -> None:
    assert _OURS is not None
    assert _OURS(datetime(2026, 12, 6, 10, 5, 57, tzinfo=UTC)) == "2026-12-06 10:05:57.000000"
    assert _OURS(None) is None


def test_other_dialects_get_a_naive_utc_datetime_for_their_driver() -> None:
    dialect = postgresql.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    moment = datetime(2026, 12, 6, 11, 5, tzinfo=timezone(timedelta(hours=1)))
    converted = moment if process is None else process(moment)
    assert converted == datetime(2026, 12, 6, 10, 5)
