"""Running totals of each referrer's visits and referrals, and the referrer on each flag.

``stats_for`` read a referrer's visit count by counting index entries: 15 to 20 ms for a
referrer with 100,000 visits. From this revision every visit and referral also bumps one of
a few rows per referrer in the same transaction, and ``stats_for`` adds those up. Likewise
each review flag now names the referral's referrer (a binding never changes), so a
referrer's flagged count reads that referrer's open flags instead of checking every one of
their referrals. Both are filled from the rows stored so far.

Upgrade with the old release stopped: visits and referrals that a process of the old release
writes after the upgrade are missing from the totals.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Every referrer's counts so far, in shard 0.
_BACKFILL = """
INSERT INTO refkit_referrer_totals (referrer_id, shard, visits, signups)
SELECT referrer_id, 0, SUM(visits), SUM(signups)
FROM (
    SELECT referrer_id, COUNT(*) AS visits, 0 AS signups
    FROM refkit_visits GROUP BY referrer_id
    UNION ALL
    SELECT referrer_id, 0 AS visits, COUNT(*) AS signups
    FROM refkit_referrals GROUP BY referrer_id
) AS counted
GROUP BY referrer_id
"""


def upgrade() -> None:
    op.create_table(
        "refkit_referrer_totals",
        sa.Column("referrer_id", sa.String(length=255), nullable=False),
        sa.Column("shard", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("visits", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("signups", sa.BigInteger(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "visits >= 0 AND signups >= 0", name=op.f("ck_refkit_referrer_totals_not_negative")
        ),
        sa.PrimaryKeyConstraint("referrer_id", "shard", name=op.f("pk_refkit_referrer_totals")),
    )
    op.execute(_BACKFILL)
    with op.batch_alter_table("refkit_flags") as flags:
        flags.add_column(sa.Column("referrer_id", sa.String(length=255), nullable=True))
    op.execute(
        "UPDATE refkit_flags SET referrer_id = (SELECT r.referrer_id FROM refkit_referrals r "
        "WHERE r.referee_id = refkit_flags.referee_id)"
    )
    op.create_index(
        op.f("ix_refkit_flags_referrer"),
        "refkit_flags",
        ["referrer_id", "cleared_at", "referee_id"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_refkit_flags_referrer"), table_name="refkit_flags")
    with op.batch_alter_table("refkit_flags") as flags:
        flags.drop_column("referrer_id")
    op.drop_table("refkit_referrer_totals")
