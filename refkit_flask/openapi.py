"""The OpenAPI 3.1 description of refkit's JSON API (served at ``{url_prefix}/api/openapi.json``).

The schemas describe exactly what :mod:`refkit_flask.api` answers; the test suite checks every
answer against them.
"""

from __future__ import annotations

import copy
from typing import Any

from iso4217 import Currency

from refkit import __version__
from refkit.models import STATUSES
from refkit.sharing import SHARE_CHANNELS

__all__ = ["build_spec"]

_DECIMAL: dict[str, Any] = {
    "type": "string",
    "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "A decimal amount as a string, so no precision is lost.",
    "examples": ["12.50"],
}
_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _by_status(item: dict[str, Any], description: str) -> dict[str, Any]:
    return _object({status: item for status in STATUSES}, description)


_SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": {"type": "string"}}, "What went wrong, and what to do."),
    "Stats": _object(
        {
            "visits": {"type": "integer", "minimum": 0},
            "signups": {"type": "integer", "minimum": 0},
            "conversions": {"type": "integer", "minimum": 0},
            "revenue": _DECIMAL,
            "rewards": _by_status(_DECIMAL, "Monetary rewards by status."),
            "points": _by_status({"type": "integer"}, "Points rewards by status."),
            "balance": {**_DECIMAL, "description": "Approved monetary rewards: owed now."},
        },
        "The user's numbers as a referrer, and the rewards they earned.",
    ),
    "Me": _object(
        {
            "user_id": {"type": "string"},
            "code": {"type": "string"},
            "link": {"type": "string", "format": "uri"},
            "share_links": _object(
                {channel: {"type": "string", "format": "uri"} for channel in SHARE_CHANNELS},
                "Ready share URLs of the link, one per channel (a mailto:, an sms: and web "
                "share pages), each link carrying its own channel.",
            ),
            "stats": _ref("Stats"),
            "balance": {
                "type": "object",
                "description": "What the user can spend or be paid now, by currency (ISO "
                "4217): approved rewards minus what was redeemed, paid out or expired.",
                "additionalProperties": _DECIMAL,
            },
            "debt": {
                "type": "object",
                "description": "By currency: what a reversal took back after the credit was "
                "spent; later credit pays it first.",
                "additionalProperties": _DECIMAL,
            },
            "milestone_progress": {
                "type": "integer",
                "minimum": 0,
                "description": "The user's own referrals whose referrer reward is approved "
                "now: the count milestones are reached at.",
            },
            "next_milestone": {
                **_object(
                    {
                        "count": {"type": "integer", "minimum": 1},
                        "kind": {"enum": ["fixed", "points"]},
                        "value": {**_DECIMAL, "description": "The amount, or points."},
                        "currency": {**_NULLABLE_STRING, "description": "null for points."},
                    },
                    "The first milestone not paid to the user yet (a bonus paid once when "
                    "milestone_progress reaches count); null when there is none.",
                ),
                "type": ["object", "null"],
            },
        },
        "The logged-in user's referral code, share link, share URLs and stats.",
    ),
    "Link": _object(
        {
            "code": {"type": "string"},
            "campaign": _NULLABLE_STRING,
            "link": {"type": "string", "format": "uri"},
        },
        "A share link (absolute URL) carrying the user's code and the campaign.",
    ),
    "Reward": _object(
        {
            "id": {"type": "integer"},
            "role": {"enum": ["referrer", "referee", "grant"]},
            "kind": {"enum": ["percent", "fixed", "points"]},
            "value": {**_DECIMAL, "description": "The amount now, or a number of points."},
            "original_value": {**_DECIMAL, "description": "The amount when it was earned."},
            "currency": {**_NULLABLE_STRING, "description": "ISO 4217; null for points."},
            "status": {"enum": list(STATUSES)},
            "created_at": {"type": "string", "format": "date-time"},
            "due_at": {
                "type": "string",
                "format": "date-time",
                "description": "When the hold period ends and the reward may be approved.",
            },
            "milestone": {
                "type": ["integer", "null"],
                "description": "A milestone bonus's count; null for any other reward.",
            },
        },
        "A reward the user earned (as a referrer, or as a referred customer).",
    ),
    "RewardList": _object(
        {"rewards": {"type": "array", "items": _ref("Reward")}}, "Rewards, newest first."
    ),
    "Offer": _object(
        {
            "discount": {**_DECIMAL, "description": "Off this order; 0 when there is none."},
            "currency": {"type": "string", "description": "ISO 4217, upper case."},
            "amount": {**_DECIMAL, "description": "The order total before the discount."},
            "total": {**_DECIMAL, "description": "What to charge: amount minus discount."},
            "reasons": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Why there is no discount or why it is what it is: "
                "discount_offered, not_referred, below_min_order, not_first_purchase, "
                "discount_already_claimed, offer_not_started, offer_ended, "
                "currency_mismatch, zero_amount, code_revoked...",
            },
            "expires_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the offer lapses; null when it does not.",
            },
        },
        "The friend's discount on an order, previewed (nothing is stored or reserved). "
        "The referrer is never revealed.",
    ),
    "CodeCheckRequest": {
        "type": "object",
        "properties": {"code": {"type": "string", "description": "The code as typed."}},
        "required": ["code"],
    },
    "CodeCheck": _object(
        {
            "valid": {"type": "boolean"},
            "reason": {
                **_NULLABLE_STRING,
                "description": "Why not valid: empty, too_long, not_ascii, bad_characters, "
                "bad_length, typo, not_canonical, bad_signature, unknown_referrer, or "
                "self_referral (the logged-in user's own code); null when valid.",
            },
            "code": {
                **_NULLABLE_STRING,
                "description": "The code in its canonical form; null when not a code.",
            },
        },
        "Whether a typed code is one of this program's. The referrer is never revealed.",
    ),
}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


_UNAUTHORIZED = _response("Nobody is logged in.", "Error")
_BAD_REQUEST = _response("A malformed request.", "Error")
_UNAVAILABLE = _response("The referral store is unavailable; try again later.", "Error")

_PATHS: dict[str, Any] = {
    "/me": {
        "get": {
            "operationId": "getMe",
            "summary": "The logged-in user's code, share link and stats",
            "responses": {
                "200": _response("The user's referral data.", "Me"),
                "401": _UNAUTHORIZED,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/me/link": {
        "get": {
            "operationId": "getMyLink",
            "summary": "A share link, optionally for a campaign",
            "parameters": [
                {
                    "name": "campaign",
                    "in": "query",
                    "required": False,
                    "description": "Empty means no campaign; control characters are refused.",
                    "schema": {
                        "type": "string",
                        "maxLength": 100,
                        "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
                    },
                }
            ],
            "responses": {
                "200": _response("The share link.", "Link"),
                "400": _BAD_REQUEST,
                "401": _UNAUTHORIZED,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/me/rewards": {
        "get": {
            "operationId": "getMyRewards",
            "summary": "The logged-in user's rewards, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                }
            ],
            "responses": {
                "200": _response("The rewards.", "RewardList"),
                "400": _BAD_REQUEST,
                "401": _UNAUTHORIZED,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/offer": {
        "get": {
            "operationId": "getOffer",
            "summary": "The friend's discount on an order, for the logged-in customer or a "
            "guest's referral cookie",
            "parameters": [
                {
                    "name": "amount",
                    "in": "query",
                    "required": True,
                    "description": "The order total before the discount, with at most the "
                    "currency's decimals (2 for EUR, 0 for JPY: more is a 400).",
                    "schema": {
                        "type": "string",
                        "pattern": r"^[0-9]{1,12}(\.[0-9]{1,3})?$",
                        "examples": ["40.00"],
                    },
                },
                {
                    "name": "currency",
                    "in": "query",
                    "required": True,
                    "description": "ISO 4217 (any case is accepted).",
                    "schema": {"enum": sorted({currency.value for currency in Currency})},
                },
            ],
            "responses": {
                "200": _response("The offer.", "Offer"),
                "400": _BAD_REQUEST,
                "503": _UNAVAILABLE,
            },
        }
    },
    "/codes/check": {
        "post": {
            "operationId": "checkCode",
            "summary": "Whether a typed code is valid (without saying whose it is)",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("CodeCheckRequest")}},
            },
            "responses": {
                "200": _response("The verdict.", "CodeCheck"),
                "400": _BAD_REQUEST,
                "503": _UNAVAILABLE,
            },
        }
    },
}


def build_spec(server_url: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document, with ``server_url`` (``/refkit/api``) as its server."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "refkit referral API",
            "version": __version__,
            "description": "The logged-in user's referral code, link, stats and rewards, for an "
            "'invite friends' widget. Requests are authenticated by the shop's own login "
            "(its session cookie). Errors are JSON objects with an 'error' message.",
        },
        "servers": [{"url": server_url}],
        "paths": copy.deepcopy(_PATHS),
        "components": {"schemas": copy.deepcopy(_SCHEMAS)},
    }
