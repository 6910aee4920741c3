"""The admin dashboard: ``{url_prefix}/admin`` and its pages, for ``@refkit.admin_check`` users.

===========================================  ===================================================
``GET  /admin``                              the dashboard (``?days=7|30|90|365|all``,
                                             ``?by=day|week``)
``GET  /admin/referrer?id=<user id>``        one referrer: referrals, orders, reward ledger
``POST /admin/rewards/<id>/approve``         approve a pending reward now
``POST /admin/rewards/<id>/revoke``          revoke a pending reward
``POST /admin/rewards/approve-due``          approve every reward whose hold period has passed
``POST /admin/payouts``                      record a payout (``user``, ``amount``, ``currency``,
                                             ``reference``: the same reference twice records one)
===========================================  ===================================================

Everyone else gets 403. The forms carry a per-session CSRF token (kept in Flask's session, so
the app needs ``SECRET_KEY``; without one the page says so and shows no buttons), and a POST
answers with a redirect back to the dashboard (post/redirect/get) whose query string says what
happened, to its ``#notice``, which takes the focus. People are named by
``@refkit.display_name``. Pages are server-rendered from ``refkit.dashboard`` (shared with the
Django app), charts are inline SVG, and nothing loads from elsewhere: the dashboard works
offline and without JavaScript.
"""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from refkit import ConflictError, ValidationError
from refkit.dashboard import data as dashboard
from refkit.dashboard import page

from . import failures
from .state import Extension, get_state

__all__ = ["CSRF_FIELD", "CSRF_SESSION_KEY", "csrf_token", "register_admin"]

#: The session key holding the admin forms' CSRF token, and the form field that echoes it.
CSRF_SESSION_KEY = "_refkit_csrf"
CSRF_FIELD = "csrf_token"
F = TypeVar("F", bound=Callable[..., Any])


def csrf_token() -> str | None:
    """This session's token for the admin forms (made on first use); ``None`` without a
    ``SECRET_KEY``, as Flask then has no session to keep it in."""
    if not current_app.secret_key:
        return None
    token = session.get(CSRF_SESSION_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_SESSION_KEY] = token
    return token


def _check_csrf() -> None:
    expected = session.get(CSRF_SESSION_KEY) if current_app.secret_key else None
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, "The form expired or did not come from this dashboard: reload it and try again.")


def _no_store(page: str) -> Response:
    response = make_response(page)
    response.headers["Cache-Control"] = "no-store"
    return response


def register_admin(blueprint: Blueprint, extension: Extension) -> None:
    """Add the admin pages to the refkit blueprint of one app."""

    def admin_only(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not extension.is_admin():
                abort(403)
            if request.method == "POST":
                _check_csrf()
            return view(*args, **kwargs)

        return cast(F, wrapper)

    @blueprint.get("/admin")
    @admin_only
    def admin() -> Response:
        program = get_state().program
        shown = dashboard.period(program.clock(), request.args.get("days"), request.args.get("by"))
        failed = failures.failure_log(current_app).recent(program.clock())
        context = page.dashboard_context(
            program, shown, done=page.notice(request.args), name=extension.user_name
        )
        context.update(csrf_token=csrf_token, csrf_field=CSRF_FIELD, failures=failed)
        return _no_store(render_template("refkit/admin.html", **context))

    @blueprint.get("/admin/referrer")
    @admin_only
    def referrer() -> Response:
        user_id = request.args.get("id", "")
        try:
            context = page.referrer_context(get_state().program, user_id, name=extension.user_name)
        except ValidationError:
            abort(404, "There is no such user id.")
        context.update(csrf_token=csrf_token, csrf_field=CSRF_FIELD)
        return _no_store(render_template("refkit/referrer.html", **context))

    @blueprint.post("/admin/rewards/<int:reward_id>/<any(approve, revoke):action>")
    @admin_only
    def decide(reward_id: int, action: str) -> Response:
        program = get_state().program
        changed = program.approve(reward_id) if action == "approve" else program.revoke(reward_id)
        done = "unchanged" if changed is None else f"{action}d"
        return _back(done=done, reward=str(reward_id))

    @blueprint.post("/admin/rewards/approve-due")
    @admin_only
    def approve_due() -> Response:
        approved = get_state().program.approve_due()
        return _back(done="approved_due", count=str(len(approved)))

    @blueprint.post("/admin/payouts")
    @admin_only
    def pay_out() -> Response:
        form = request.form
        try:
            get_state().program.pay_out(
                form.get("user", ""),
                form.get("amount", ""),
                form.get("currency", ""),
                reference=form.get("reference", ""),
            )
        except (ValidationError, ConflictError) as error:  # InsufficientBalance included
            abort(400, f"The payout was not recorded: {' '.join(str(error).split())}")
        return _back(done="paid_out")

    @blueprint.post("/admin/referrals/clear")
    @admin_only
    def clear_flags() -> Response:
        try:
            cleared = get_state().program.clear_flags(request.form.get("referee", ""))
        except ValidationError:
            abort(400, "There is no such referee.")
        return _back(done="cleared", count=str(cleared))


def _back(**outcome: Any) -> Response:
    """Redirect to the dashboard, in the period the form was sent from, saying what happened.

    The target is the notice (``#notice``, focusable with ``tabindex="-1"``): the browser
    scrolls to it and moves the focus there, so the confirmation is in view and a keyboard
    or screen reader user goes on from it instead of from the top of the page."""
    days, by = request.form.get("days"), request.form.get("by")
    keep = {
        "days": days if days in dashboard.PERIODS else None,
        "by": by if by in dashboard.BUCKETS else None,
    }
    params: dict[str, Any] = {key: value for key, value in keep.items() if value is not None}
    target = url_for(".admin", **params, **outcome, _anchor="notice")
    return cast(Response, redirect(target, code=303))
