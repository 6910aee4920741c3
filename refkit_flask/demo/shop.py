"""The shop's pages: products, sign-up, log-in, buy-now checkout, orders and invitations.

The refkit calls a shop needs are all here, marked ``# refkit:``: the user loader and admin
check, :meth:`~refkit_flask.RefKit.attribute_signup` after registration,
:meth:`~refkit_flask.RefKit.conversion` in a :meth:`~refkit_flask.RefKit.track_conversion`
checkout, and the stats and rewards on the invitation page.
"""

from __future__ import annotations

import functools
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar, cast

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.security import check_password_hash, generate_password_hash

from refkit import Conversion, EarnedReward, LeaderboardEntry, RefkitError
from refkit_flask import RefKit, RefKitState, safe_local_path

from . import db
from .seed import ACCOUNTS

__all__ = ["blueprint", "refkit"]

log = logging.getLogger("refkit.demo")
F = TypeVar("F", bound=Callable[..., Any])

blueprint = Blueprint("shop", __name__)
refkit = RefKit()

MAX_QUANTITY = 10
REASONS = {
    "referrer_rewarded": "your friend who invited you earns a thank-you reward",
    "referee_rewarded": "you earn the 5 EUR welcome reward",
    "not_referred": "you joined without an invitation, so this order earns no referral reward",
    "below_min_order": "orders from 10 EUR earn referral rewards; this one is below that",
    "already_rewarded": "the referral rewards were already earned on an earlier order",
    "outside_window": "the invitation is older than the 60-day attribution window",
    "not_first_purchase": "only the first purchase earns referral rewards",
    "cap_reached": "your friend has reached the maximum number of rewards",
}


# -- who is logged in ---------------------------------------------------------------------


@blueprint.before_app_request
def load_user() -> None:
    user_id = session.get("user_id")
    g.user = db.get_user(db.connection(), user_id) if isinstance(user_id, int) else None
    if user_id is not None and g.user is None:
        session.pop("user_id", None)  # the account is gone (a reset demo database)


def current_user() -> db.User | None:
    user = g.get("user")
    return user if isinstance(user, db.User) else None


@refkit.user_loader  # refkit: whose code, link and stats
def current_user_id() -> int | None:
    user = current_user()
    return None if user is None else user.id


@refkit.admin_check  # refkit: the owner (the seeded admin) may open /refkit/admin
def is_admin() -> bool:
    user = current_user()
    return user is not None and user.is_admin


@refkit.display_name  # refkit: the dashboard shows customers' names, not their ids
def display_name(user_id: str) -> str | None:
    return db.user_names(db.connection(), [user_id]).get(user_id)


def login_required(view: F) -> F:
    """Send anonymous visitors to the log-in page (back to this page, or the shop for POSTs)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            back = request.full_path.rstrip("?") if request.method == "GET" else "/"
            flash("Please log in first.")
            return redirect(url_for("shop.login", next=back))
        return view(*args, **kwargs)

    return cast(F, wrapper)


# -- CSRF: a per-session token in every form ----------------------------------------------


def csrf_token() -> str:
    token = session.get("csrf_token")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf_token"] = token
    return token


def check_csrf() -> None:
    """Abort with 400 unless the form's ``csrf_token`` matches the session's token."""
    expected = session.get("csrf_token")
    sent = request.form.get("csrf_token", "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(400, description="The form expired or was not sent by this site. Try again.")


def csrf_protected(view: F) -> F:
    """Decorate a POST view with :func:`check_csrf`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_csrf()
        return view(*args, **kwargs)

    return cast(F, wrapper)


@blueprint.app_context_processor
def template_globals() -> dict[str, Any]:
    state = cast(RefKitState, current_app.extensions["refkit"])
    return {
        "current_user": current_user(),
        "csrf_token": csrf_token,
        "admin_url": f"{request.script_root}{state.settings.url_prefix}/admin",
        "api_url": f"{request.script_root}{state.settings.url_prefix}/api/me",
    }


@blueprint.app_template_filter("money")
def money(value: Decimal | None, currency: str | None = "EUR") -> str:
    amount = Decimal(0) if value is None else value
    return f"{amount:,.2f} {currency}" if currency else f"{amount:,} points"


def _login(user: db.User) -> None:
    session.clear()  # a new session on log-in: no fixation
    session["user_id"] = user.id
    g.user = user


# -- pages --------------------------------------------------------------------------------


@blueprint.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """The shop's icon (browsers ask for /favicon.ico on every site, the dashboard's pages
    included)."""
    return current_app.send_static_file("favicon.ico")


@blueprint.get("/")
def index() -> ResponseReturnValue:
    inviter = None
    code = refkit.captured_code()  # refkit: the visitor came through someone's link
    if code is not None and current_user() is None:
        inviter = _inviter_name(code)
    products = db.list_products(db.connection())
    # refkit: what the friend gets off each product (logged in, or a guest's cookie); no writes
    offers = {p.id: refkit.offer(p.price, db.CURRENCY) for p in products}
    offered = next((o for o in offers.values() if o.discount > 0), None)
    discount_from = None
    if offered is not None and offered.referrer_id is not None:
        discount_from = _name_of(offered.referrer_id)
    user = current_user()
    credit = None
    if user is not None:  # refkit: credit the customer can spend at checkout
        credit = _safely(lambda: refkit.program.balance(user.id, db.CURRENCY))
    return render_template(
        "shop/index.html",
        products=products,
        inviter=inviter,
        offers=offers,
        offered=offered,
        discount_from=discount_from,
        credit=credit,
    )


@blueprint.route("/signup", methods=["GET", "POST"])
def signup() -> ResponseReturnValue:
    if current_user() is not None:
        return redirect(url_for("shop.index"))
    form = {"name": "", "email": ""}
    errors: dict[str, str] = {}  # field -> message: each shown under its field
    if request.method == "POST":
        check_csrf()
        name = request.form.get("name", "").strip()
        email = request.form.get("email", "").strip().lower()
        password = request.form.get("password", "")
        form = {"name": name, "email": email}
        if not 1 <= len(name) <= 80:
            errors["name"] = "Please enter your name (at most 80 characters)."
        if len(email) > 254 or "@" not in email.strip("@") or any(c.isspace() for c in email):
            errors["email"] = "Please enter a valid email address."
        if not 8 <= len(password) <= 200:
            errors["password"] = "Please choose a password of at least 8 characters."  # noqa: S105
        if not errors:
            conn = db.connection()
            method = current_app.config["DEMO_HASH_METHOD"]
            try:
                with conn:
                    user = db.create_user(
                        conn, name, email, generate_password_hash(password, method=method)
                    )
            except sqlite3.IntegrityError:
                errors["email"] = "An account with this email exists already: log in instead."
            else:
                _login(user)
                referral = refkit.attribute_signup(
                    user.id, email=email
                )  # refkit: bind to the inviter
                if referral is not None:
                    flash(
                        "Welcome! You were invited by a friend: your first order from 10 EUR "
                        "earns you a 5 EUR reward."
                    )
                else:
                    flash(f"Welcome, {user.name}!")
                return redirect(url_for("shop.index"))
    status = 400 if errors else 200
    return render_template("shop/signup.html", form=form, errors=errors), status


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    target = safe_local_path(request.values.get("next"), url_for("shop.index"))
    email = ""
    error = None
    if request.method == "POST":
        check_csrf()
        email = request.form.get("email", "").strip().lower()
        user = db.user_by_email(db.connection(), email)
        password = request.form.get("password", "")
        if user is not None and check_password_hash(user.password_hash, password):
            _login(user)
            flash(f"Hello again, {user.name}.")
            return redirect(target)
        error = "Wrong email or password."
    status = 400 if error else 200
    return (
        render_template(
            "shop/login.html",
            email=email,
            error=error,
            next=target,
            accounts=ACCOUNTS if current_app.config["DEMO_SEED"] else (),
        ),
        status,
    )


@blueprint.post("/logout")
@csrf_protected
def logout() -> ResponseReturnValue:
    session.clear()
    flash("You are logged out.")
    return redirect(url_for("shop.index"))


@blueprint.post("/checkout")
@login_required
@csrf_protected
@refkit.track_conversion  # refkit: conversions below are recorded once this answers < 400
def checkout() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    product_id = request.form.get("product_id", type=int)
    quantity = request.form.get("quantity", 1, type=int)
    conn = db.connection()
    product = None if product_id is None else db.get_product(conn, product_id)
    if product is None:
        abort(400, description="Unknown product.")
    if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
        abort(400, description=f"Quantity must be from 1 to {MAX_QUANTITY}.")
    reference = db.new_reference()
    gross = product.price * quantity
    # refkit: reserve the friend's discount for this order (released if this view fails)
    claim = refkit.claim_discount(reference, gross, db.CURRENCY, customer_id=user.id)
    after_discount = gross - claim.discount
    spent = Decimal(0)
    if request.form.get("use_credit"):
        spent = _spend_credit(user, after_discount, reference)
    with conn:  # the demo's "payment" never fails: charge what is left
        order = db.create_order(
            conn, user, product, quantity, reference=reference, paid_less=claim.discount + spent
        )
    if claim.discount:
        flash(f"Your friend's invitation took {money(claim.discount)} off this order.")
    if spent:
        flash(f"You paid {money(spent)} of this order with your credit.")
    refkit.conversion(  # refkit: the purchase, with the amount paid; idempotent by order_id
        order_id=order.reference,
        amount=after_discount,  # credit spent is a way of paying: it counts as paid
        currency=order.currency,
        customer_id=user.id,
    )
    return redirect(url_for("shop.order", reference=order.reference))


def _spend_credit(user: db.User, due: Decimal, reference: str) -> Decimal:
    """Spend as much of the customer's credit as the order needs; 0 when refkit fails."""
    program = refkit.program
    balance = _safely(lambda: program.balance(user.id, db.CURRENCY)) or Decimal(0)
    amount = min(Decimal(balance), due)
    if amount <= 0:
        return Decimal(0)
    # refkit: spend credit, idempotent by the order's reference
    entry = _safely(lambda: program.redeem(user.id, amount, db.CURRENCY, reference=reference))
    return amount if entry is not None else Decimal(0)


@blueprint.get("/orders")
@login_required
def orders() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    return render_template("shop/orders.html", orders=db.list_orders(db.connection(), user.id))


@blueprint.get("/orders/<reference>")
@login_required
def order(reference: str) -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    found = db.get_order(db.connection(), reference)
    if found is None or found.user_id != user.id:
        abort(404)
    conversion: Conversion | None = _safely(lambda: refkit.program.conversion(reference))
    mine: list[EarnedReward] = []
    reasons: list[str] = []
    if conversion is not None:
        mine = [r for r in conversion.rewards if r.beneficiary_id == str(user.id)]
        reasons = [REASONS.get(reason, reason) for reason in conversion.reasons]
    return render_template(
        "shop/order.html", order=found, conversion=conversion, rewards=mine, reasons=reasons
    )


@blueprint.get("/invite")
@login_required
def invite() -> ResponseReturnValue:
    user = current_user()
    assert user is not None
    program = refkit.program
    stats = _safely(lambda: program.stats_for(user.id))
    rewards: list[EarnedReward] = _safely(lambda: program.rewards(user_id=user.id)) or []
    referral = _safely(lambda: program.referral_for(user.id))
    leaders: list[LeaderboardEntry] = _safely(lambda: program.leaderboard(limit=5)) or []
    ids = [r.referee_id for r in rewards if r.referee_id] + [e.referrer_id for e in leaders]
    if referral is not None:
        ids.append(referral.referrer_id)
    names = db.user_names(db.connection(), ids)
    return render_template(
        "shop/invite.html",
        code=refkit.code(),  # refkit: or {{ refkit_code() }} in a template
        link=refkit.share_link(),  # refkit: or {{ refkit_link() }}
        stats=stats,
        rewards=rewards,
        referral=referral,
        leaders=leaders,
        names=names,
    )


# -- helpers ------------------------------------------------------------------------------

T = TypeVar("T")


def _safely(work: Callable[[], T]) -> T | None:
    """refkit's numbers are extras on these pages: a refkit failure is logged, not shown."""
    try:
        return work()
    except RefkitError:
        if current_app.config.get("REFKIT_RAISE_ERRORS"):
            raise
        log.exception("refkit failed while rendering a shop page")
        return None


def _inviter_name(code: str) -> str | None:
    referrer = _safely(lambda: refkit.program.resolve(code))
    return None if referrer is None else _name_of(referrer)


def _name_of(user_id: str) -> str | None:
    if not user_id.isdigit():
        return None
    return db.user_names(db.connection(), [user_id]).get(user_id)
