"""Visits: a click or a landing counted for the code's referrer."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from sqlalchemy import Connection, Integer, String, bindparam, func, select

from ..models import Visit
from ..storage.dialects import insert_row
from ..storage.prepared import Prepared
from ..storage.schema import UTCDateTime, referrers, visits
from .referrers import add_to_totals

__all__ = ["TAGS", "record", "record_by_number"]

#: Where a visit or a referral came from, stored with it: the link's share channel and the
#: landing's UTM tags (each ``None`` when absent).
TAGS: Final = ("channel", "utm_source", "utm_medium", "utm_campaign")

#: A visit for the holder of referrer number ``:number`` unless that is an erased user (a
#: pseudonym: it starts with ``:erased_prefix``, ``:prefix_length`` characters); returns
#: its id and the referrer, or no row.
VISIT_BY_NUMBER: Final = Prepared(
    visits.insert()
    .from_select(
        ["referrer_id", "campaign", "visitor", "created_at", "variant", *TAGS],
        select(
            referrers.c.user_id,
            bindparam("campaign", type_=String),
            bindparam("visitor", type_=String),
            bindparam("created_at", type_=UTCDateTime),
            bindparam("variant", type_=String),
            *(bindparam(tag, type_=String) for tag in TAGS),
        ).where(
            referrers.c.number == bindparam("number", type_=Integer),
            func.substr(referrers.c.user_id, 1, bindparam("prefix_length", type_=Integer))
            != bindparam("erased_prefix", type_=String),
        ),
    )
    .returning(visits.c.id, visits.c.referrer_id),
    (
        "number",
        "campaign",
        "visitor",
        "created_at",
        "variant",
        "erased_prefix",
        "prefix_length",
        *TAGS,
    ),
    {"created_at": UTCDateTime()},
)


def record(
    connection: Connection,
    referrer_id: str,
    campaign: str | None,
    visitor: str | None,
    at: datetime,
    tags: Mapping[str, str | None] | None = None,
    variant: str | None = None,
) -> Visit:
    """Count a visit for ``referrer_id``, with its :data:`TAGS` (``tags``), by a visitor
    shown ``variant`` (an A/B test's), if any."""
    tagged = _tags(tags)
    values = {"referrer_id": referrer_id, "campaign": campaign, "visitor": visitor, **tagged}
    visit_id = insert_row(connection, visits, {**values, "created_at": at, "variant": variant})
    add_to_totals(connection, referrer_id, visits=1)
    return Visit(visit_id, referrer_id, campaign, visitor, at, **tagged, variant=variant)


def record_by_number(
    connection: Connection,
    number: int,
    campaign: str | None,
    visitor: str | None,
    at: datetime,
    erased_prefix: str,
    tags: Mapping[str, str | None] | None = None,
    variant: str | None = None,
) -> Visit | None:
    """A visit for the holder of referrer ``number``, found and counted in one statement;
    ``None`` if no user holds it, or an erased one (their id starts with ``erased_prefix``)."""
    tagged = _tags(tags)
    values = {
        **tagged,
        "number": number,
        "campaign": campaign,
        "visitor": visitor,
        "created_at": at,
        "variant": variant,
        "erased_prefix": erased_prefix,
        "prefix_length": len(erased_prefix),
    }
    row = VISIT_BY_NUMBER.row(connection, values)
    if row is None:
        return None
    add_to_totals(connection, row.referrer_id, visits=1)
    return Visit(row.id, row.referrer_id, campaign, visitor, at, **tagged, variant=variant)


def _tags(tags: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """Every one of :data:`TAGS`, ``None`` where ``tags`` has none."""
    given = tags or {}
    return {tag: given.get(tag) for tag in TAGS}
