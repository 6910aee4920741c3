"""Security headers on every refkit route (issue 13, finding 13); the shop's own pages untouched.

``REFKIT_SECURITY_HEADERS`` overrides, extends or turns them off. The dashboard's styles come
from a static file the strict policy allows (the browser test checks they apply).
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Blueprint, Flask, Response

import refkit
from refkit_flask.demo.__main__ import DemoRequestHandler
from refkit_flask.headers import DEFAULT_SECURITY_HEADERS, register_security_headers
from tests.support.browser_fixtures import loopback
from tests.support.shop import MakeShop, browser, code_of

STRICT = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
ADMIN = {"X-User": "admin"}


def refkit_requests(app: Flask) -> Iterator[tuple[str, str, str]]:
    """(method, path, endpoint) for every route of refkit's blueprints."""
    code = code_of(app, "alice")
    values = {"code": code, "reward_id": "1", "action": "approve", "filename": "admin.css"}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("refkit"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: values.get(m[1], "x"), rule.rule)
        method = "GET" if "GET" in (rule.methods or ()) else "POST"
        yield method, path, rule.endpoint


@pytest.fixture
def shop(make_shop: MakeShop) -> Flask:
    app = make_shop()
    app.extensions["refkit"].extension.admin_check(lambda: True)
    return app


def test_every_refkit_route_sends_the_security_headers(shop: Flask) -> None:
    client = browser(shop)
    seen = set()
    for method, path, endpoint in refkit_requests(shop):
        with client.open(path, method=method, headers=ADMIN) as answer:  # a file: closed
            for name, value in STRICT.items():
                assert answer.headers.get(name) == value, (endpoint, path, answer.status, name)
        seen.add(endpoint)
    # the admin pages and actions, the JSON API, the stylesheet and the landing route
    assert {
        "refkit.admin",
        "refkit.referrer",
        "refkit.decide",
        "refkit.approve_due",
        "refkit.api.me",
        "refkit.api.openapi",
        "refkit.api.check_code",
        "refkit.api.unknown",
        "refkit.static",
        "refkit_landing.landing",
    } <= seen, seen


def test_errors_of_refkit_routes_send_them_too(shop: Flask) -> None:
    client = browser(shop)
    for path, status in [("/refkit/api/me", 401), ("/refkit/api/nowhere", 404)]:
        answer = client.get(path)
        assert answer.status_code == status
        assert answer.headers["Content-Security-Policy"] == STRICT["Content-Security-Policy"]


def test_the_shops_own_pages_are_untouched(shop: Flask) -> None:
    client = browser(shop)
    for path in ["/", f"/?ref={code_of(shop, 'alice')}"]:
        answer = client.get(path)
        assert answer.status_code == 200
        assert "Content-Security-Policy" not in answer.headers
        assert "X-Frame-Options" not in answer.headers


def test_the_dashboard_has_no_inline_style_and_its_stylesheet_is_served(shop: Flask) -> None:
    client = browser(shop)
    page = client.get("/refkit/admin", headers=ADMIN).get_data(as_text=True)
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)  # blocked by style-src 'self'
    assert '<link rel="stylesheet" href="/refkit/static/admin.css">' in page
    with client.get("/refkit/static/admin.css") as css:
        assert css.status_code == 200
        assert css.mimetype == "text/css"
        assert "--page: #f6f8fa" in css.get_data(as_text=True)


def test_a_dict_overrides_extends_and_drops_headers(make_shop: MakeShop) -> None:
    app = make_shop(
        REFKIT_SECURITY_HEADERS={
            "referrer-policy": "no-referrer",  # names are case-insensitive
            "X-Frame-Options": None,
            "Permissions-Policy": "camera=()",
        }
    )
    answer = browser(app).get("/refkit/api/openapi.json")
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert "X-Frame-Options" not in answer.headers
    assert answer.headers["Permissions-Policy"] == "camera=()"
    assert answer.headers["Content-Security-Policy"] == STRICT["Content-Security-Policy"]


def test_a_header_the_view_set_itself_is_replaced_not_doubled() -> None:
    app = Flask("headers")
    pages = Blueprint("pages", __name__)
    register_security_headers(pages)

    @pages.get("/framed")
    def framed() -> Response:
        answer = Response("page")
        answer.headers["x-frame-options"] = "SAMEORIGIN"
        answer.headers.add("X-Frame-Options", "ALLOW-FROM https://example.com")
        return answer

    @pages.get("/plain")
    def plain() -> str:
        return "page"

    app.register_blueprint(pages)
    client = app.test_client()
    for path in ("/framed", "/plain"):
        answer = client.get(path)
        assert answer.headers.getlist("X-Frame-Options") == ["DENY"]
        for name, value in DEFAULT_SECURITY_HEADERS.items():
            assert answer.headers.getlist(name) == [value]


def test_none_sends_none_of_them(make_shop: MakeShop) -> None:
    app = make_shop(REFKIT_SECURITY_HEADERS=None)
    answer = browser(app).get("/refkit/api/openapi.json")
    assert answer.status_code == 200
    assert not set(DEFAULT_SECURITY_HEADERS) & set(answer.headers.keys())


@pytest.mark.parametrize("setting", ["strict", ["X-Frame-Options"], {"X-Frame-Options": 1}])
def test_a_setting_of_the_wrong_type_is_a_configuration_error(
    make_shop: MakeShop, setting: Any
) -> None:
    with pytest.raises(refkit.ConfigurationError, match="REFKIT_SECURITY_HEADERS"):
        make_shop(REFKIT_SECURITY_HEADERS=setting)


def test_the_demo_server_names_no_versions(shop: Flask) -> None:
    with (
        loopback(shop, "demo-server", request_handler=DemoRequestHandler) as base,
        urllib.request.urlopen(f"{base}/refkit/api/openapi.json") as answer,  # noqa: S310
    ):
        servers = answer.headers.get_all("Server")
    assert servers == ["refkit-demo"]  # not "Werkzeug/3.x Python/3.x"
