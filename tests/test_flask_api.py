"""The JSON API under ``/refkit/api``: answers, errors, and conformance to its OpenAPI document.

Every API answer in this module goes through the ``api`` fixture, which checks it against the
schema that ``/refkit/api/openapi.json`` declares for that path, method and status.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

import refkit

from .support.api_shop import RULES, START, program_of, running_shop
from .support.settings import SECRET


@pytest.fixture
def app(tmp_path: Path, clock: refkit.FrozenClock) -> Iterator[Flask]:
    with running_shop(tmp_path, clock) as app:
        yield app


@pytest.fixture
def program(app: Flask) -> refkit.ReferralProgram:
    return program_of(app)


@pytest.fixture
def sales(program: refkit.ReferralProgram) -> refkit.ReferralProgram:
    """alice referred bob (bought 100.00, then 40.00) and carol (bought 50.00)."""
    code = program.code_for("alice")
    program.record_visit(code)
    program.attribute("bob", code)
    program.attribute("carol", code)
    program.record_conversion("o-1", "bob", Decimal("100.00"), "EUR")
    program.record_conversion("o-2", "bob", Decimal("40.00"), "EUR")
    program.record_conversion("o-3", "carol", Decimal("50.00"), "EUR")
    return program


# -- a small structural JSON-schema check (jsonschema is not a dependency) ------------------

KNOWN_KEYWORDS = {
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "format",
    "default",
    "description",
    "examples",
}
_TYPES: dict[str, Any] = {
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def schema_errors(
    value: Any, schema: dict[str, Any], spec: dict[str, Any], at: str = "$"
) -> list[str]:
    """What in ``value`` breaks ``schema`` (the subset of JSON Schema the spec uses)."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        return schema_errors(value, spec["components"]["schemas"][name], spec, at)
    errors: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: {value!r} not in {schema['enum']}")
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES[name](value) for name in types):
            return [*errors, f"{at}: {value!r} is not of type {types}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [
            f"{at}: missing {name!r}" for name in schema.get("required", ()) if name not in value
        ]
        if schema.get("additionalProperties") is False:
            errors += [f"{at}: unexpected {name!r}" for name in value if name not in properties]
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], spec, f"{at}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            errors += schema_errors(item, schema["items"], spec, f"{at}[{index}]")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: {value!r} does not match {schema['pattern']}")
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            errors.append(f"{at}: {value!r} has a bad length")
        if schema.get("format") == "date-time":
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                errors.append(f"{at}: {value!r} has no time zone")
        if schema.get("format") == "uri" and not urlsplit(value).scheme:
            errors.append(f"{at}: {value!r} is not an absolute URI")
    if _TYPES["integer"](value) and not (
        schema.get("minimum", value) <= value <= schema.get("maximum", value)
    ):
        errors.append(f"{at}: {value!r} out of range")
    return errors


class Api:
    """A test client for the API that checks each answer against the OpenAPI document."""

    def __init__(self, client: FlaskClient, prefix: str = "/refkit/api") -> None:
        self.client = client
        self.prefix = prefix
        self.spec: dict[str, Any] = client.get(f"{prefix}/openapi.json").get_json()

    def request(
        self, method: str, path: str, user: str | None = None, **kwargs: Any
    ) -> TestResponse:
        headers = {"X-User": user} if user else {}
        response = self.client.open(
            f"{self.prefix}{path}", method=method, headers=headers, **kwargs
        )
        assert response.mimetype == "application/json", response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
        operation = self.spec["paths"].get(path.split("?")[0], {}).get(method.lower())
        if operation is not None:  # documented: the answer must match its schema
            declared = operation["responses"].get(str(response.status_code))
            assert declared is not None, f"{method} {path}: {response.status_code} not documented"
            schema = declared["content"]["application/json"]["schema"]
            assert schema_errors(response.get_json(), schema, self.spec) == []
        else:  # an unknown path: a JSON error
            assert (
                schema_errors(
                    response.get_json(), {"$ref": "#/components/schemas/Error"}, self.spec
                )
                == []
            )
        return response

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, **kwargs: Any) -> TestResponse:
        return self.request("POST", path, user, **kwargs)


@pytest.fixture
def api(app: Flask) -> Api:
    return Api(app.test_client())


# -- GET /me -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/me", "/me/link", "/me/rewards"])
def test_user_endpoints_answer_401_json_when_nobody_is_logged_in(api: Api, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 401
    assert "log in" in response.get_json()["error"]


def test_me_gives_the_users_code_absolute_link_and_zero_stats(
    api: Api, program: refkit.ReferralProgram
) -> None:
    body = api.get("/me", user="alice").get_json()
    code = program.code_for("alice")
    text = "I%20think%20you%27ll%20like%20this%20shop.%20Here%20is%20my%20invite%20link%3A"
    link = f"http%3A%2F%2Flocalhost%2Fr%2F{code}%3Fref_channel%3D"
    assert body == {
        "user_id": "alice",
        "code": code,
        "link": f"http://localhost/r/{code}",
        "share_links": {
            "email": f"mailto:?subject=An%20invitation%20for%20you&body={text}%0D%0A%0D%0A"
            f"{link}email",
            "whatsapp": f"https://wa.me/?text={text}%20{link}whatsapp",
            "x": f"https://x.com/intent/tweet?text={text}&url={link}x",
            "facebook": f"https://www.facebook.com/sharer/sharer.php?u={link}facebook",
            "telegram": f"https://t.me/share/url?url={link}telegram&text={text}",
            "sms": f"sms:?&body={text}%20{link}sms",
        },
        "stats": {
            "visits": 0,
            "signups": 0,
            "conversions": 0,
            "revenue": "0",
            "rewards": {"pending": "0", "approved": "0", "revoked": "0", "reversed": "0"},
            "points": {"pending": 0, "approved": 0, "revoked": 0, "reversed": 0},
            "balance": "0",
        },
        "balance": {},
        "debt": {},
        "milestone_progress": 0,
        "next_milestone": None,
    }


def test_me_stats_count_the_referrals_with_amounts_as_decimal_strings(
    api: Api, sales: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    stats = api.get("/me", user="alice").get_json()["stats"]
    assert stats["visits"] == 1
    assert stats["signups"] == 2
    assert stats["conversions"] == 3
    assert Decimal(stats["revenue"]) == Decimal("190.00")
    assert Decimal(stats["rewards"]["pending"]) == Decimal("15.00")  # 10% of 100 + 10% of 50
    assert Decimal(stats["balance"]) == 0
    clock.advance(days=15)
    sales.approve_due()
    body = api.get("/me", user="alice").get_json()
    stats = body["stats"]
    assert Decimal(stats["balance"]) == Decimal("15.00")
    assert isinstance(stats["balance"], str)
    assert body["balance"] == {"EUR": "15.00"}
    sales.redeem("alice", Decimal("4.50"), "EUR", reference="order-9")
    body = api.get("/me", user="alice").get_json()
    assert (body["balance"], body["debt"]) == ({"EUR": "10.50"}, {})
    assert Decimal(body["stats"]["balance"]) == Decimal("10.50")


def test_me_says_how_far_the_user_is_from_the_next_milestone(
    tmp_path: Path, clock: refkit.FrozenClock
) -> None:
    rules = dataclasses.replace(
        RULES,
        milestones=[
            refkit.Milestone(1, refkit.Reward.fixed(Decimal("2.50"), "EUR")),
            refkit.Milestone(2, refkit.Reward.points(100)),
        ],
    )
    with running_shop(tmp_path, clock, REFKIT_RULES=rules) as app:
        api, program = Api(app.test_client()), program_of(app)
        body = api.get("/me", user="alice").get_json()
        assert (body["milestone_progress"], body["next_milestone"]) == (
            0,
            {"count": 1, "kind": "fixed", "value": "2.50", "currency": "EUR"},
        )
        program.attribute("bob", program.code_for("alice"))
        program.record_conversion("o-1", "bob", Decimal("100.00"), "EUR")
        clock.advance(days=15)
        program.approve_due()
        body = api.get("/me", user="alice").get_json()
        assert (body["milestone_progress"], body["next_milestone"]) == (
            1,
            {"count": 2, "kind": "points", "value": "100", "currency": None},
        )
        assert body["balance"] == {"EUR": "12.50"}  # 10% of 100, and the bonus
        rewards = api.get("/me/rewards", user="alice").get_json()["rewards"]
        assert sorted((r["role"], r["milestone"] or 0) for r in rewards) == [
            ("referrer", 0),
            ("referrer", 1),
        ]
        program.grant("alice", refkit.Reward.points(7), reference="g-1", reason="contest")
        rewards = api.get("/me/rewards", user="alice").get_json()["rewards"]
        assert rewards[0]["role"] == "grant"
        assert rewards[0]["value"] == "7"


# -- GET /offer ----------------------------------------------------------------------------


def test_offer_answers_anonymous_visitors_by_the_schema(api: Api) -> None:
    body = api.get("/offer?amount=40.00&currency=eur").get_json()
    assert body == {
        "discount": "0",
        "currency": "EUR",
        "amount": "40.00",
        "total": "40.00",
        "reasons": body["reasons"],
        "expires_at": None,
    }
    assert body["reasons"]


@pytest.mark.parametrize(
    "query",
    ["", "?amount=40", "?currency=EUR", "?amount=-1&currency=EUR", "?amount=1&currency=EURO"],
)
def test_offer_refuses_a_missing_or_bad_amount_or_currency(api: Api, query: str) -> None:
    response = api.get(f"/offer{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]


def test_me_link_leads_through_the_landing_to_the_users_code(
    app: Flask, api: Api, program: refkit.ReferralProgram
) -> None:
    link = api.get("/me", user="alice").get_json()["link"]
    path = urlsplit(link).path
    response = app.test_client().get(path, headers={"User-Agent": "Mozilla/5.0"})
    assert response.status_code == 302
    assert program.stats_for("alice").visits == 1


def test_user_prefix_setting_moves_the_api_and_its_openapi_server(tmp_path: Path) -> None:
    with running_shop(tmp_path, REFKIT_URL_PREFIX="/referrals/") as app:
        api = Api(app.test_client(), prefix="/referrals/api")
        assert api.spec["servers"] == [{"url": "/referrals/api"}]
        assert api.get("/me", user="alice").status_code == 200


# -- GET /me/link --------------------------------------------------------------------------


def test_me_link_carries_the_campaign(api: Api, program: refkit.ReferralProgram) -> None:
    body = api.get("/me/link?campaign=spring sale", user="alice").get_json()
    link = urlsplit(body["link"])
    assert body["code"] == program.code_for("alice")
    assert body["campaign"] == "spring sale"
    assert link.path == f"/r/{body['code']}"
    assert parse_qs(link.query) == {"campaign": ["spring sale"]}


@pytest.mark.parametrize("query", ["", "?campaign="])
def test_me_link_without_a_campaign_is_the_plain_share_link(api: Api, query: str) -> None:
    body = api.get(f"/me/link{query}", user="alice").get_json()
    assert body["campaign"] is None
    assert urlsplit(body["link"]).query == ""


@pytest.mark.parametrize("campaign", ["x" * 101, "bad%0Aline"])
def test_me_link_refuses_a_bad_campaign_with_400(api: Api, campaign: str) -> None:
    response = api.get(f"/me/link?campaign={campaign}", user="alice")
    assert response.status_code == 400
    assert "campaign" in response.get_json()["error"]


# -- GET /me/rewards -----------------------------------------------------------------------


def test_me_rewards_lists_the_users_rewards_newest_first(
    api: Api, sales: refkit.ReferralProgram, clock: refkit.FrozenClock
) -> None:
    clock.advance(days=1)
    sales.attribute("dan", sales.code_for("alice"))
    sales.record_conversion("o-4", "dan", Decimal("30.00"), "EUR")
    rewards = api.get("/me/rewards", user="alice").get_json()["rewards"]
    assert [r["value"] for r in rewards] == ["3.00", "5.00", "10.00"]
    assert {r["role"] for r in rewards} == {"referrer"}
    assert rewards[0]["currency"] == "EUR"
    assert rewards[0]["status"] == "pending"
    assert datetime.fromisoformat(rewards[0]["due_at"]) == START + timedelta(days=15)
    bob = api.get("/me/rewards", user="bob").get_json()["rewards"]
    assert [(r["role"], r["kind"], r["value"]) for r in bob] == [("referee", "fixed", "5.00")]


def test_me_rewards_never_shows_other_users_ids_or_order_ids(
    api: Api, sales: refkit.ReferralProgram
) -> None:
    text = api.get("/me/rewards", user="alice").get_data(as_text=True)
    assert "bob" not in text
    assert "o-1" not in text


def test_me_rewards_limit_keeps_the_newest(api: Api, sales: refkit.ReferralProgram) -> None:
    rewards = api.get("/me/rewards?limit=1", user="alice").get_json()["rewards"]
    assert len(rewards) == 1
    assert rewards[0]["value"] == "5.00"  # carol's order came last


@pytest.mark.parametrize("limit", ["0", "101", "-1", "1.5", "ten", "", "\u0661"])
def test_me_rewards_refuses_a_limit_outside_1_to_100(api: Api, limit: str) -> None:
    response = api.get(f"/me/rewards?limit={limit}", user="alice")
    assert response.status_code == 400
    assert "1 to 100" in response.get_json()["error"]


def test_me_rewards_of_a_user_without_any_is_an_empty_list(api: Api) -> None:
    assert api.get("/me/rewards?limit=100", user="nobody-yet").get_json() == {"rewards": []}


# -- POST /codes/check ---------------------------------------------------------------------


def test_check_accepts_a_code_in_any_case_and_format_and_gives_its_canonical_form(
    api: Api, program: refkit.ReferralProgram
) -> None:
    code = program.code_for("alice")
    typed = f"  {code[:4].lower()}-{code[4:8]} {code[8:].lower()} "
    response = api.post("/codes/check", json={"code": typed})
    assert response.status_code == 200
    assert response.get_json() == {"valid": True, "reason": None, "code": code}


def test_check_never_reveals_the_referrer(api: Api, program: refkit.ReferralProgram) -> None:
    code = program.code_for("alice")
    assert "alice" not in api.post("/codes/check", json={"code": code}).get_data(as_text=True)


@pytest.mark.parametrize(
    ("typed", "reason"),
    [("", "empty"), ("hello", "bad_length"), ("x" * 500, "too_long"), ("ÀÀÀÀ", "not_ascii")],
)
def test_check_explains_why_a_code_is_not_valid(api: Api, typed: str, reason: str) -> None:
    response = api.post("/codes/check", json={"code": typed})
    assert response.status_code == 200
    assert response.get_json() == {"valid": False, "reason": reason, "code": None}


def test_check_refuses_a_well_signed_code_nobody_holds(api: Api) -> None:
    unknown = refkit.CodeCodec(SECRET).encode(424242)
    assert api.post("/codes/check", json={"code": unknown}).get_json() == {
        "valid": False,
        "reason": "unknown_referrer",
        "code": None,
    }


def test_check_refuses_a_code_of_another_programs_key(api: Api) -> None:
    other = refkit.ReferralProgram(secret_key="another-key-" * 4, store="memory://")
    body = api.post("/codes/check", json={"code": other.code_for("alice")}).get_json()
    assert body["valid"] is False
    assert body["code"] is None


def test_check_tells_the_logged_in_user_their_own_code_is_not_usable(
    api: Api, program: refkit.ReferralProgram
) -> None:
    code = program.code_for("alice")
    body = api.post("/codes/check", json={"code": code}, user="alice").get_json()
    assert body == {"valid": False, "reason": "self_referral", "code": code}
    assert api.post("/codes/check", json={"code": code}, user="bob").get_json()["valid"] is True


def test_check_reads_a_json_body_sent_as_text_plain(
    api: Api, program: refkit.ReferralProgram
) -> None:
    code = program.code_for("alice")
    response = api.post("/codes/check", data=f'{{"code": "{code}"}}', content_type="text/plain")
    assert response.get_json()["valid"] is True


@pytest.mark.parametrize(
    "body",
    ["", "not json", "[1, 2]", '"ABCD"', "null", "{}", '{"code": 5}', '{"code": null}', '{"cod'],
)
def test_check_answers_400_json_to_a_malformed_body(api: Api, body: str) -> None:
    response = api.post("/codes/check", data=body, content_type="application/json")
    assert response.status_code == 400
    assert '{"code": "..."}' in response.get_json()["error"]


# -- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/me"), ("DELETE", "/me/rewards"), ("GET", "/codes/check")]
)
def test_a_wrong_method_is_a_405_json_with_allow(api: Api, method: str, path: str) -> None:
    response = api.request(method, path, user="alice")
    assert response.status_code == 405
    assert "OPTIONS" in response.headers["Allow"]
    assert method not in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/nope", "/me/", "/", "/me/rewards/1"])
def test_an_unknown_api_path_is_a_404_json(api: Api, path: str) -> None:
    response = api.get(path, user="alice")
    assert response.status_code == 404
    assert "openapi.json" in response.get_json()["error"]


def test_a_store_failure_is_a_503_json_without_details(
    api: Api, program: refkit.ReferralProgram, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(user_id: str) -> refkit.ReferrerStats:
        raise refkit.StorageError("database password=hunter2 is locked")

    monkeypatch.setattr(program, "stats_for", fail)
    response = api.get("/me", user="alice")
    assert response.status_code == 503
    assert "hunter2" not in response.get_data(as_text=True)


def test_api_errors_do_not_change_the_shops_own_error_pages(app: Flask) -> None:
    response = app.test_client().get("/no-such-shop-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


# -- the OpenAPI document ------------------------------------------------------------------


def test_openapi_describes_exactly_the_api_routes_of_the_app(app: Flask, api: Api) -> None:
    spec = api.spec
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": "/refkit/api"}]
    documented = {(path, method.upper()) for path, item in spec["paths"].items() for method in item}
    routes = {
        (rule.rule.removeprefix("/refkit/api"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("refkit.api.")
        and rule.endpoint not in ("refkit.api.unknown", "refkit.api.openapi")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert (
        documented
        == routes
        == {
            ("/me", "GET"),
            ("/me/link", "GET"),
            ("/me/rewards", "GET"),
            ("/offer", "GET"),
            ("/codes/check", "POST"),
        }
    )


def test_openapi_references_resolve_and_use_only_checked_keywords(api: Api) -> None:
    schemas = api.spec["components"]["schemas"]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                assert node["$ref"].removeprefix("#/components/schemas/") in schemas
            if "type" in node or "$ref" in node or "enum" in node:
                assert set(node) <= KNOWN_KEYWORDS, set(node) - KNOWN_KEYWORDS
                for schema in node.get("properties", {}).values():
                    walk(schema)
                if "items" in node:
                    walk(node["items"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(api.spec["paths"])
    walk(schemas)


def test_the_schema_check_catches_a_wrong_answer(api: Api) -> None:
    stats = {
        "visits": 0,
        "signups": 0,
        "conversions": 0,
        "revenue": 1.5,  # a float, not a decimal string
        "rewards": {"pending": "0", "approved": "0", "revoked": "0"},  # a status missing
        "points": {"pending": 0, "approved": 0, "revoked": 0, "reversed": 0},
        "balance": "0",
        "extra": True,
    }
    errors = schema_errors(stats, {"$ref": "#/components/schemas/Stats"}, api.spec)
    assert len(errors) == 3, errors
