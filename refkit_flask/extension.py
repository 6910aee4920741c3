"""RefKit: the Flask extension (``RefKit(app)`` or ``RefKit()`` + ``init_app(app)``).

It reads the config, builds the app's program and state (:mod:`refkit_flask.state`), and
registers the capture (:mod:`refkit_flask.capture`), the JSON API (:mod:`refkit_flask.api`),
the admin pages (:mod:`refkit_flask.admin`), the Jinja helpers and the CLI; its methods are
what a shop calls. Nothing else in the package imports this module.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, cast

from blinker import NamedSignal
from flask import (
    Blueprint,
    Flask,
    has_app_context,
    has_request_context,
    make_response,
    url_for,
)
from markupsafe import Markup

from refkit import Conversion, Offer, Referral, ReferralProgram, RefkitError
from refkit.dashboard import page
from refkit.sharing import QR_CHANNEL, SHARE_CHANNELS, qr_svg, share_urls, to_share_text
from refkit.validation import to_channel

from . import capture, cookie, names, signals
from .admin import register_admin
from .api import api_blueprint
from .cli import refkit_cli
from .config import check_options, read_settings
from .headers import register_security_headers
from .state import GUEST_ID, RefKitState, get_state, guard, made_request_state, request_state

__all__ = ["RefKit"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _PendingConversion:
    order_id: str | int
    amount: Decimal | int | float | str
    currency: str
    customer_id: str | int | None
    code: str | None


class RefKit:
    """refkit for Flask.

    :param app: the app to set up now; or call :meth:`init_app` later (one extension object
        can serve several apps: state lives in ``app.extensions["refkit"]``).
    :param store: a URL, an SQLAlchemy engine (for example Flask-SQLAlchemy's ``db.engine``)
        or a store; overrides ``REFKIT_DATABASE_URL``. A callable is called with the app, for
        engines that only exist inside an app context.
    :param rules: the :class:`refkit.RewardRules`; overrides ``REFKIT_RULES``.
    :param clock: the program's clock (tests pass a :class:`refkit.FrozenClock`).
    :param session: the shop's SQLAlchemy session (Flask-SQLAlchemy's ``db.session``, with
        ``store=db.engine``): :meth:`conversion` and :meth:`attribute_signup` then write in
        it, in the shop's transaction, and the shop's commit stores both (``REFKIT_SESSION``;
        see "One transaction with the shop's order" in the docs).
    :param options: any other :class:`refkit.ReferralProgram` option (``fast_purchase``,
        ``signal_retention``...), winning over its ``REFKIT_*`` key.
    :raises refkit.ConfigurationError: an unknown option (the message lists the valid ones).
    """

    def __init__(self, app: Flask | None = None, **options: Any) -> None:
        check_options(options)
        self._options = options
        self._user_loader: Callable[[], Any] | None = None
        self._admin_check: Callable[[], bool] | None = None
        self._display_name: names.DisplayNameLoader | None = None
        if app is not None:
            self.init_app(app)

    # -- set-up ----------------------------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Read the ``REFKIT_*`` config, build the app's program, and register the routes,
        the ``?ref=`` capture, the Jinja helpers and the ``flask refkit`` commands.

        :raises refkit.ConfigurationError: a missing or short secret key, a bad store URL.
        """
        options = dict(self._options)
        if callable(options.get("store")):
            with app.app_context():
                options["store"] = options["store"](app)
        settings = read_settings(app, options)
        program = ReferralProgram(**settings.program_options())
        state = RefKitState(
            extension=self,
            settings=settings,
            program=program,
            cookies=cookie.cookie_signer(settings, program.clock),
        )
        app.extensions["refkit"] = state
        for event, signal in signals.SIGNALS.items():
            program.on(event, functools.partial(_send, app, signal))
        app.register_blueprint(capture.landing_blueprint(settings))
        app.register_blueprint(self._blueprint(), url_prefix=settings.url_prefix)
        if settings.capture_all_pages:
            app.before_request(capture.capture_query_param(settings))
        app.after_request(cookie.write)
        app.context_processor(self._template_helpers)
        if "refkit" not in app.cli.commands:
            app.cli.add_command(refkit_cli)

    def _blueprint(self) -> Blueprint:
        """The ``refkit`` blueprint of one app: the JSON API (``/api/...``, nested) and the
        admin pages (``/admin...``)."""
        # The admin pages' templates and stylesheet are shared with the Django app
        # (refkit.dashboard); the blueprint's own folder holds the invite snippet.
        blueprint = Blueprint(
            "refkit", __name__, template_folder="templates", static_folder=str(page.STATIC)
        )
        register_security_headers(blueprint)
        pages = Blueprint("pages", __name__, template_folder=str(page.TEMPLATES))
        blueprint.register_blueprint(pages)  # routes none: lends the dashboard's templates
        blueprint.register_blueprint(api_blueprint(self), url_prefix="/api")
        register_admin(blueprint, self)
        return blueprint

    def _template_helpers(self) -> dict[str, Any]:
        def refkit_link(campaign: str | None = None) -> str:
            return self.share_link(campaign=campaign) or ""

        def refkit_code() -> str:
            return self.code() or ""

        def refkit_share_links(campaign: str | None = None) -> dict[str, str]:
            return guard(lambda: self.share_links(campaign=campaign)) or {}

        def refkit_qr(campaign: str | None = None) -> Markup:
            # qr_svg draws the link and writes no text of it: its markup is safe as it is.
            return Markup(guard(lambda: self.qr_svg(campaign=campaign)) or "")  # noqa: S704

        return {
            "refkit_link": refkit_link,
            "refkit_code": refkit_code,
            "refkit_share_links": refkit_share_links,
            "refkit_qr": refkit_qr,
        }

    # -- the public API --------------------------------------------------------------------

    @property
    def program(self) -> ReferralProgram:
        """The current app's :class:`refkit.ReferralProgram` (needs an app context)."""
        return get_state().program

    def user_loader(self, callback: F) -> F:
        """Register the function returning the logged-in user's id (or ``None``).

        Without one, Flask-Login's ``current_user`` is used when Flask-Login is installed.
        """
        self._user_loader = callback
        return callback

    def admin_check(self, callback: F) -> F:
        """Register the function deciding who may open ``/refkit/admin`` (True: allowed).
        Without one, nobody may."""
        self._admin_check = callback
        return callback

    def display_name(self, callback: F) -> F:
        """Register the function giving the name the admin pages show for a user id (a str),
        or ``None`` to show the id. The pages keep the id beside the name (and in links); a
        loader that raises is logged once per request and the ids are shown. Called at most
        once per id and request."""
        self._display_name = callback
        return callback

    def user_name(self, user_id: str | int) -> str | None:
        """The ``@display_name`` of ``user_id`` (``None``: none registered, none found, or the
        loader failed), cached for the request."""
        return names.display_name(self._display_name, user_id)

    def current_user_id(self) -> str | None:
        """The logged-in user's id as a str, or ``None``."""
        loader = self._user_loader or _flask_login_user
        user = loader()
        if user is None or user == "":
            return None
        return str(user)

    def is_admin(self) -> bool:
        """Whether the current request may see the admin pages (deny without a check)."""
        if self._admin_check is None:
            return False
        return bool(guard(self._admin_check, default=False))

    def captured_code(self) -> str | None:
        """The referral code this visitor arrived with (from the signed cookie), if any."""
        found = _captured()
        return None if found is None else found["code"]

    def attribute_signup(
        self, user_id: str | int, *, source: str = "link", email: str | None = None
    ) -> Referral | None:
        """Bind a newly registered user to the referrer whose code they arrived with.

        Call it in the registration view once the user exists. Returns the referral, or
        ``None`` when the visitor came without a code or the binding was refused (their own
        code, already referred: logged, never raised unless ``REFKIT_RAISE_ERRORS``).

        The click's fraud signals (from the cookie; its time for the fast-purchase check)
        are passed to :meth:`refkit.ReferralProgram.attribute`, and with
        :data:`REFKIT_FLAG_SAME_DEVICE` this request's too, which flags the referral for
        review when they match; ``email`` (the new user's) is registered with
        :meth:`refkit.ReferralProgram.identify` first, and also when the visitor came without
        a code, so that a second account on the same address cannot refer itself.

        With ``RefKit(session=db.session)`` both are written in the shop's session: the
        shop's commit stores the new user and their referral together.

        The referral cookie is deleted once the signup answered (below 400), so the next
        signup on a shared browser is not attributed to the same link.
        """
        found = _captured()
        state = get_state()
        joined = state.settings.session
        if found is None:
            if email is not None:  # so a later account on the same address is a self-referral
                guard(lambda: state.program.identify(user_id, email=email, connection=joined))
            return None
        code, campaign = found["code"], found.get("campaign")
        tags = capture.cookie_tags(found)
        variant = cookie.variant_of(state.program, found)  # the one the visitor was shown
        click = cookie.click_fingerprint(found)
        result: Referral | None = guard(
            lambda: state.program.attribute(
                user_id,
                code,
                source=source,  # type: ignore[arg-type]
                campaign=campaign,
                email=email,
                click=click,
                channel=tags["channel"],
                utm_source=tags["utm_source"],
                utm_medium=tags["utm_medium"],
                utm_campaign=tags["utm_campaign"],
                signup=capture.request_fingerprint(state)
                if state.settings.flag_same_device
                else None,
                variant=variant,
                connection=joined,
            )
        )
        cookie.clear()  # the next signup on this browser is not attributed to the same link
        return result

    def conversion(
        self,
        order_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        customer_id: str | int | None = None,
        *,
        code: str | None = None,
    ) -> Conversion | None:
        """Record a purchase.

        Inside a :meth:`track_conversion` view it is recorded once the view has answered
        below 400 (and returns ``None``); anywhere else (a webhook, a job) at once. The
        customer defaults to the logged-in user; a guest's order binds through the referral
        cookie, or through ``code`` typed at checkout.

        With ``RefKit(session=db.session)`` it is written at once, in the shop's session,
        everywhere (a tracked view included): the shop's ``db.session.commit()`` stores the
        order and the conversion together, a rollback neither, and the events and signals
        follow the commit.
        """
        pending = _PendingConversion(order_id, amount, currency, customer_id, code)
        if has_app_context() and get_state().settings.session is None:
            requested = made_request_state()  # a track_conversion view made it
            if requested is not None and requested.conversions is not None:
                requested.conversions.append(pending)
                return None
        return self._record(pending)

    def _record(self, pending: _PendingConversion) -> Conversion | None:
        def work() -> Conversion | None:
            customer = pending.customer_id
            logged_in = customer is None  # the customer is the logged-in user
            if customer is None:
                customer = self.current_user_id()
            if customer is None:
                raise RefkitError("refkit.conversion() needs customer_id when nobody is logged in")
            state = get_state()
            program = state.program
            code, variant = pending.code, None
            # A guest's order binds through the cookie; a logged-in customer never does
            # (attribute_signup() bound them if a link brought them). The cookie first (no
            # database work, no user lookup): most checkouts carry none.
            found = _captured() if code is None else None
            if (
                found is not None
                and not logged_in
                and self.current_user_id() is None
                and program.referral_for(customer) is None
            ):
                code, variant = found["code"], cookie.variant_of(program, found)
            return program.record_conversion(
                pending.order_id,
                customer,
                pending.amount,
                pending.currency,
                code=code,
                variant=variant,
                connection=state.settings.session,
            )

        result: Conversion | None = guard(work)
        return result

    def track_conversion(self, view: F) -> F:
        """Decorate a checkout view: ``refkit.conversion(...)`` calls inside it are recorded
        only if the view answers with a status below 400, and the discounts
        ``refkit.claim_discount(...)`` claimed inside it are released
        (:meth:`refkit.ReferralProgram.release_discount`) when it answers 400 or more or
        raises. A refkit failure never breaks the checkout: it is logged (raised with
        ``REFKIT_RAISE_ERRORS``).

        With ``RefKit(session=db.session)`` the shop's transaction decides instead: the
        conversion is written in the session at the call and stored by the shop's commit.
        """

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            requested = request_state()
            outer = requested.conversions
            queued: list[_PendingConversion] = []
            requested.conversions = queued
            outer_claims = requested.claims
            claimed: list[str | int] = []
            requested.claims = claimed
            try:
                try:
                    response = make_response(view(*args, **kwargs))
                finally:
                    requested.conversions = outer
                    requested.claims = outer_claims
            except BaseException:
                self._release(claimed)
                raise
            if response.status_code < 400:
                for pending in queued:
                    self._record(pending)
            else:
                self._release(claimed)
            return response

        return cast(F, wrapper)

    def offer(
        self,
        amount: Decimal | int | float | str,
        currency: str,
        customer_id: str | int | None = None,
        *,
        code: str | None = None,
    ) -> Offer:
        """What the friend gets off this order now
        (:meth:`refkit.ReferralProgram.offer_for`, which stores nothing): show it in the
        cart. ``amount`` is the order total before the discount.

        The customer defaults to the logged-in user; for a guest (nobody logged in) the
        offer follows the captured code (the referral cookie) or ``code`` typed at checkout.
        A refkit failure never breaks the cart: a storage failure is logged and counted and
        the offer is no discount (``discount == 0``, reason ``"unavailable"``), so the shop
        charges the full price; a bad amount or currency is the shop's mistake and raised
        under debug or testing (see ``REFKIT_RAISE_ERRORS``).
        """

        def work() -> Offer:
            customer, found, variant = self._checkout_customer(customer_id, code, guest=True)
            return get_state().program.offer_for(
                customer, amount, currency, code=found, variant=variant
            )

        return self._offer_or_none(work, currency)

    def claim_discount(
        self,
        order_id: str | int,
        amount: Decimal | int | float | str,
        currency: str,
        customer_id: str | int | None = None,
        *,
        code: str | None = None,
    ) -> Offer:
        """Reserve the friend's discount for this order just before payment
        (:meth:`refkit.ReferralProgram.claim_discount`); charge ``amount - offer.discount``,
        then record the conversion with the amount paid.

        Inside a :meth:`track_conversion` view the claim is released
        (:meth:`refkit.ReferralProgram.release_discount`) when the view answers 400 or more
        or raises, so a failed payment never uses up the friend's discount; anywhere else
        it is claimed at once and not released. The customer defaults to the logged-in user;
        a guest's order binds through the referral cookie or ``code``. With
        ``RefKit(session=db.session)`` the claim is written in the shop's session and
        commits with its order. As :meth:`offer`, a storage failure means no discount
        (``discount == 0``, reason ``"unavailable"``), never an error page.
        """

        def work() -> Offer:
            customer, found, variant = self._checkout_customer(customer_id, code, guest=False)
            claim = get_state().program.claim_discount(
                order_id,
                customer,
                amount,
                currency,
                code=found,
                variant=variant,
                connection=get_state().settings.session,
            )
            claimed = request_state().claims if has_app_context() else None
            if claimed is not None and claim.order_id is not None and claim.discount > 0:
                claimed.append(order_id)
            return claim

        return self._offer_or_none(work, currency)

    def _checkout_customer(
        self, customer_id: str | int | None, code: str | None, *, guest: bool
    ) -> tuple[str | int, str | None, str | None]:
        """The customer of a checkout, the code to bind them with (the typed ``code``, else
        the cookie's when the customer is not referred yet) and the A/B test variant of that
        binding: the cookie's, the one the visitor was shown (a typed code: none, so the
        core assigns it from the customer)."""
        customer = customer_id if customer_id is not None else self.current_user_id()
        if customer is None and not guest:
            raise RefkitError("refkit.claim_discount() needs customer_id when nobody is logged in")
        if code is not None:
            return (GUEST_ID if customer is None else customer), code, None
        found = _captured()
        if found is None or self.current_user_id() is not None:
            # A logged-in customer signed up already: attribute_signup() bound them if they
            # came through a link. A link clicked later never binds them at checkout (an
            # existing customer is not a friend brought in); only a guest's order binds.
            return (GUEST_ID if customer is None else customer), None, None
        program = get_state().program
        if customer is not None and program.referral_for(customer) is not None:
            return customer, None, None
        return (
            (GUEST_ID if customer is None else customer),
            found["code"],
            cookie.variant_of(program, found),
        )

    def _offer_or_none(self, work: Callable[[], Offer], currency: str) -> Offer:
        found: Offer | None = guard(work)
        if found is not None:
            return found
        shown = currency.strip().upper() if isinstance(currency, str) else str(currency)
        return Offer(Decimal(0), shown, None, ("unavailable",))

    def _release(self, orders: list[str | int]) -> None:
        """Release the discounts a failed checkout view claimed. In joined mode the release
        goes in the shop's session while its transaction is open (a rollback takes the claim
        with it, a commit stores both), and in refkit's own transaction once it committed."""
        if not orders:
            return
        state = get_state()
        session = state.settings.session
        joined = session if session is not None and _in_transaction(session) else None
        for order in orders:
            guard(functools.partial(state.program.release_discount, order, connection=joined))

    def code(self, user_id: str | int | None = None) -> str | None:
        """The user's referral code (the logged-in user by default), or ``None``."""
        user = user_id if user_id is not None else self.current_user_id()
        if user is None:
            return None
        result: str | None = guard(lambda: get_state().program.code_for(user))
        return result

    def share_link(
        self,
        user_id: str | int | None = None,
        campaign: str | None = None,
        *,
        external: bool = True,
        channel: str | None = None,
    ) -> str | None:
        """The user's share link (``/r/<code>`` on this site), or ``None`` when anonymous.

        ``channel`` (``"email"``, ``"qr"``...) goes in ``REFKIT_CHANNEL_PARAM``: the landing
        keeps it with the visit and, through the cookie, with the referral.
        """
        code = self.code(user_id)
        if code is None:
            return None
        settings = get_state().settings
        params: dict[str, Any] = {"code": code, "_external": external}
        if campaign:
            params[settings.campaign_param] = campaign
        if channel:
            params[settings.channel_param] = to_channel(channel)
        return url_for("refkit_landing.landing", **params)

    def share_links(
        self,
        user_id: str | int | None = None,
        campaign: str | None = None,
        *,
        text: str | None = None,
    ) -> dict[str, str] | None:
        """Ready share URLs of the user's link (the logged-in user by default), one per
        channel (:meth:`refkit.ReferralProgram.share_links`), each holding the landing link
        with its own channel; ``None`` when anonymous.

        :param text: the message before the link; ``REFKIT_SHARE_TEXT`` by default.
        :raises ValidationError: a bad campaign or text.
        """
        settings = get_state().settings
        message = settings.share_text if text is None else to_share_text(text)
        links = {}
        for channel in SHARE_CHANNELS:
            link = self.share_link(user_id, campaign, channel=channel)
            if link is None:
                return None
            links[channel] = link
        return share_urls(links, message, settings.share_subject)

    def qr_svg(self, user_id: str | int | None = None, campaign: str | None = None) -> str | None:
        """The user's share link (channel ``"qr"``) as an SVG QR code
        (:func:`refkit.sharing.qr_svg`), or ``None`` when anonymous."""
        link = self.share_link(user_id, campaign, channel=QR_CHANNEL)
        return None if link is None else qr_svg(link)


def _captured() -> dict[str, Any] | None:
    """This visitor's referral payload when it holds a code; ``None`` outside a request (a
    job or a CLI command has no visitor)."""
    if not has_request_context():
        return None
    found = cookie.payload(get_state())
    return found if found is not None and isinstance(found.get("code"), str) else None


def _in_transaction(session: Any) -> bool:
    """Whether the shop's session (or connection) has a transaction open now."""
    check = getattr(session, "in_transaction", None)
    return bool(check()) if callable(check) else False


def _send(app: Flask, signal: NamedSignal, record: object) -> None:
    signal.send(app, record=record)


def _flask_login_user() -> Any:
    try:
        from flask_login import current_user
    except ImportError:
        return None
    if current_user is None or not getattr(current_user, "is_authenticated", False):
        return None
    return current_user.get_id()
