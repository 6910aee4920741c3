"""The operations table: which write transactions committed.

Each write transaction refkit runs inserts one row (a time-ordered operation id) before its
COMMIT. When the answer to a COMMIT is lost (the connection drops after the server received
it), the runner looks the id up on a new connection: found, the write committed and the call
returns its result; missing, it did not, and the call is retried. Rows older than a day are
purged as writes go on.

A frozen snapshot, like 0001: it must not import the live metadata.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refkit_operations",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refkit_operations")),
    )


def downgrade() -> None:
    op.drop_table("refkit_operations")
