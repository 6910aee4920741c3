"""Throttling code guessing with Flask-Limiter, behind one reverse proxy.

Only wrong codes count: once a client has tried 30 invalid codes in a minute, on
the landing route and the code-check API together, both answer it 429 Too Many
Requests until the minute is over. Valid codes are not counted, and other clients
are not affected.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from refkit import InvalidCode
from refkit_flask import RefKit

referrals = RefKit()
limiter = Limiter(get_remote_address, storage_uri="memory://")  # Redis in production
GUESSES = "30/minute"


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__)
    app.config.update(
        REFKIT_SECRET_KEY="dev only: set 32+ random characters",
        REFKIT_DATABASE_URL="memory://",
    )
    app.config.update(config or {})
    # Exactly one proxy (nginx, a load balancer) in front of the app sets X-Forwarded-For:
    # trust one hop, so request.remote_addr is the visitor's address and cannot be forged.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)
    referrals.init_app(app)
    limiter.init_app(app)
    # refkit's views are registered by init_app: wrap them in place, sharing one budget.
    for endpoint, wrong in [
        ("refkit_landing.landing", wrong_link),
        ("refkit.api.check_code", wrong_check),
    ]:
        view = app.view_functions[endpoint]
        guard = limiter.shared_limit(GUESSES, scope="code-guesses", deduct_when=wrong)
        app.view_functions[endpoint] = guard(view)
    return app


def wrong_link(response: Response) -> bool:
    """Count a landing request only when its code is not one of ours (it redirects anyway)."""
    program = referrals.program
    try:
        program.resolve(program.verify((request.view_args or {}).get("code")))
    except InvalidCode:
        return True
    return False


def wrong_check(response: Response) -> bool:
    """Count a code check when it found no code: invalid, unknown, or a malformed request."""
    body = response.get_json(silent=True) or {}
    return body.get("code") is None
