"""The shop of the JSON API, admin, dashboard and CLI tests: an SQLite file, ``X-User`` or the
session says who is logged in, ``admin`` may see the admin page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import Flask, render_template_string, request, session

import refkit
from refkit_flask import RefKit

from .settings import SECRET
from .shop import program_of

__all__ = ["RULES", "START", "make_app", "program_of", "running_shop"]

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)  # the conftest clock's start
RULES = refkit.RewardRules(
    referrer_reward=refkit.Reward.percent(10, cap=Decimal("50")),
    referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
    hold_period=timedelta(days=14),
)


def make_app(
    tmp_path: Path,
    clock: Callable[[], datetime] | None = None,
    *,
    admin_check: bool = True,
    **config: Any,
) -> Flask:
    """A shop on an SQLite file: ``X-User`` (or ``session["user_id"]``) says who is logged in;
    the user ``admin`` may see the admin page."""
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config.update(
        TESTING=True,
        SECRET_KEY=SECRET,
        REFKIT_DATABASE_URL=f"sqlite:///{tmp_path / 'refkit.db'}",
        REFKIT_RULES=RULES,
        REFKIT_RAISE_ERRORS=True,
    )
    app.config.update(config)
    extension = RefKit(app, clock=clock or refkit.FrozenClock(START))

    @extension.user_loader
    def current_user() -> str | None:
        return request.headers.get("X-User") or session.get("user_id")

    if admin_check:

        @extension.admin_check
        def is_admin() -> bool:
            return request.headers.get("X-User") == "admin"

    @app.get("/")
    def home() -> str:
        return "home"

    @app.get("/invite")
    def invite() -> str:
        campaign = request.args.get("campaign")
        return render_template_string(
            '{% with refkit_campaign=campaign %}{% include "refkit/invite.html" %}{% endwith %}',
            campaign=campaign,
        )

    @app.post("/register")
    def register() -> str:
        user_id = request.form["user_id"]
        session["user_id"] = user_id
        extension.attribute_signup(user_id)
        return "welcome"

    return app


@contextmanager
def running_shop(tmp_path: Path, *args: Any, **kwargs: Any) -> Iterator[Flask]:
    """:func:`make_app`, closing the app's store afterwards."""
    app = make_app(tmp_path, *args, **kwargs)
    try:
        yield app
    finally:
        program_of(app).store.close()
