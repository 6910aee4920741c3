"""The JSON API, ``{url_prefix}/api/...`` (the admin pages are :mod:`refkit_flask.admin`).

It serves an "invite friends" widget; every answer is JSON, errors included
(``{"error": "..."}`` with the HTTP status), amounts are decimal strings, and nothing is cached
(``Cache-Control: no-store``):

=========================  ================================================================
``GET  /api/me``           the logged-in user's code, share link, share URLs and stats (401: anon.)
``GET  /api/me/link``      a share link, ``?campaign=`` optional
``GET  /api/me/rewards``   the user's rewards, newest first (``?limit=`` 1 to 100, default 20)
``GET  /api/offer``        ``?amount=&currency=``: the friend's discount on this order (a guest:
                           through the referral cookie); never says who the referrer is
``POST /api/codes/check``  ``{"code": "..."}``: is it a code of this program? Never says whose.
``GET  /api/openapi.json`` the OpenAPI 3.1 description of the above
=========================  ================================================================
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    jsonify,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException

from refkit import (
    InvalidCode,
    Offer,
    RefkitError,
    StorageError,
    ValidationError,
)
from refkit.codes import normalize_code
from refkit.serialize import milestone_json, money, offer_json, reward_json, stats_json
from refkit.validation import to_campaign

from .openapi import build_spec
from .state import GUEST_ID, Extension, get_state

__all__ = [
    "API_ROUTES",
    "DEFAULT_REWARDS_LIMIT",
    "MAX_REWARDS_LIMIT",
    "api_blueprint",
    "milestone_json",
    "money",
    "offer_json",
    "reward_json",
    "stats_json",
]

log = logging.getLogger("refkit.flask")

#: The API's paths (below ``{url_prefix}/api``) and the methods each answers.
API_ROUTES: dict[str, tuple[str, ...]] = {
    "/me": ("GET",),
    "/me/link": ("GET",),
    "/me/rewards": ("GET",),
    "/offer": ("GET",),
    "/codes/check": ("POST",),
    "/openapi.json": ("GET",),
}
DEFAULT_REWARDS_LIMIT = 20
MAX_REWARDS_LIMIT = 100
_ANY_METHOD = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def api_blueprint(extension: Extension) -> Blueprint:
    """The ``api`` blueprint of one app (nested in the ``refkit`` one, at ``/api``)."""
    api = Blueprint("api", __name__)

    def logged_in_user() -> str:
        user_id = extension.current_user_id()
        if user_id is None:
            raise ApiError(401, "nobody is logged in: log in to see your referral code")
        return user_id

    def share_link(user_id: str, campaign: str | None) -> str:
        link = extension.share_link(user_id, campaign)
        if link is None:  # share_link logs and hides refkit failures
            raise ApiError(503, "the share link is unavailable right now; try again later")
        return link

    @api.get("/me", provide_automatic_options=False)
    def me() -> Response:
        user_id = logged_in_user()
        program = get_state().program
        code = program.code_for(user_id)
        stats = program.stats_for(user_id)
        return jsonify(
            user_id=user_id,
            code=code,
            link=share_link(user_id, None),
            share_links=extension.share_links(user_id) or {},
            stats=stats_json(stats),
            balance={
                currency: money(value) for currency, value in stats.balance_by_currency.items()
            },
            debt={currency: money(value) for currency, value in stats.debt_by_currency.items()},
            milestone_progress=stats.milestone_progress,
            next_milestone=milestone_json(stats.next_milestone),
        )

    @api.get("/me/link", provide_automatic_options=False)
    def me_link() -> Response:
        user_id = logged_in_user()
        campaign = _campaign_arg()
        return jsonify(
            code=get_state().program.code_for(user_id),
            campaign=campaign,
            link=share_link(user_id, campaign),
        )

    @api.get("/me/rewards", provide_automatic_options=False)
    def me_rewards() -> Response:
        user_id = logged_in_user()
        limit = _limit_arg()
        rewards = get_state().program.rewards(user_id=user_id, limit=limit)
        return jsonify(rewards=[reward_json(reward) for reward in rewards])

    @api.get("/offer", provide_automatic_options=False)
    def offer() -> Response:
        amount, currency = _required_arg("amount"), _required_arg("currency")
        return jsonify(offer_json(_offer(extension, amount, currency), amount))

    @api.post("/codes/check", provide_automatic_options=False)
    def check_code() -> Response:
        try:
            body = request.get_json(force=True, silent=True)
        except RecursionError:  # absurdly nested JSON: silent=True only catches ValueError
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("code"), str):
            raise ApiError(400, 'send a JSON object with the code as a string: {"code": "..."}')
        return jsonify(_check(extension, body["code"]))

    @api.get("/openapi.json", provide_automatic_options=False)
    def openapi() -> Response:
        server = url_for(".openapi").rsplit("/openapi.json", 1)[0]  # with the script root
        return jsonify(build_spec(server))

    @api.route("/", defaults={"rest": ""}, methods=_ANY_METHOD)
    @api.route("/<path:rest>", methods=_ANY_METHOD)
    def unknown(rest: str) -> Response:
        # Routing errors would otherwise get the shop's HTML 404/405 pages. OPTIONS comes here
        # too (the API's routes have no automatic OPTIONS), so Allow lists only real methods.
        allowed = API_ROUTES.get(f"/{rest}")
        if allowed is not None and request.method == "OPTIONS":
            head = ["HEAD"] if "GET" in allowed else []
            return Response(status=204, headers={"Allow": ", ".join([*allowed, *head, "OPTIONS"])})
        if allowed is not None:
            head = ["HEAD"] if "GET" in allowed else []
            abort(405, valid_methods=[*allowed, *head, "OPTIONS"])
        abort(404, f"no such API endpoint; the API is described at {url_for('.openapi')}")

    api.register_error_handler(ApiError, _api_error)
    api.register_error_handler(RefkitError, _refkit_error)
    api.register_error_handler(HTTPException, _http_error)
    api.after_request(_no_store)
    return api


def _campaign_arg() -> str | None:
    value = request.args.get("campaign")
    if value is None or value == "":
        return None
    return to_campaign(value)  # ValidationError: a 400


def _limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None:
        return DEFAULT_REWARDS_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_REWARDS_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_REWARDS_LIMIT}")
    return int(raw)


def _required_arg(name: str) -> str:
    value = request.args.get(name)
    if value is None or value == "":
        raise ApiError(400, f"{name} is required: /offer?amount=40.00&currency=EUR")
    return value


def _offer(extension: Extension, amount: str, currency: str) -> Offer:
    """The offer for the logged-in customer, or a guest's captured code. A code that stopped
    resolving (revoked, a rotated key) is no discount, with its reason."""
    program = get_state().program
    customer = extension.current_user_id()
    code = extension.captured_code()
    if customer is not None and code is not None and program.referral_for(customer) is not None:
        code = None  # already referred: their referral decides
    try:
        return program.offer_for(customer or GUEST_ID, amount, currency, code=code)
    except InvalidCode as error:
        program.offer_for(customer or GUEST_ID, amount, currency)  # a bad amount: still a 400
        return Offer(Decimal(0), currency.strip().upper(), None, (f"code_{error.reason}",))


def _check(extension: Extension, code: str) -> dict[str, Any]:
    """``{"valid", "reason", "code"}`` for a typed code; never the referrer's id."""
    program = get_state().program
    try:
        referrer = program.resolve(code)
    except InvalidCode as error:
        return {"valid": False, "reason": error.reason, "code": None}
    canonical = normalize_code(code)  # cannot fail once resolved; no second decode
    if referrer == extension.current_user_id():
        return {"valid": False, "reason": "self_referral", "code": canonical}
    return {"valid": True, "reason": None, "code": canonical}


def _json_error(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


def _api_error(error: ApiError) -> Response:
    return _json_error(error.status, error.message)


def _refkit_error(error: RefkitError) -> Response:
    if isinstance(error, InvalidCode | ValidationError):
        return _json_error(400, " ".join(str(error).split()))
    if isinstance(error, StorageError):
        log.exception("refkit: the store failed during an API request")
        return _json_error(503, "the referral program is unavailable right now; try again later")
    log.exception("refkit: an API request failed")
    return _json_error(500, "the referral program failed; the error is in the server log")


def _http_error(error: HTTPException) -> Response:
    response = _json_error(error.code or 500, error.description or error.name)
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def _no_store(response: Response) -> Response:
    response.headers.setdefault("Cache-Control", "no-store")
    return response
