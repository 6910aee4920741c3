"""``python -m refkit_flask.demo`` (``make demo``): serve the demo shop on 127.0.0.1.

The port comes from the ``PORT`` environment variable (default 5000). This is Flask's
development server: for trying refkit out, not for production.
"""

from __future__ import annotations

import os
import sys

from werkzeug.serving import WSGIRequestHandler

from . import create_app
from .seed import ACCOUNTS

__all__ = ["DemoRequestHandler", "main"]

HOST = "127.0.0.1"


class DemoRequestHandler(WSGIRequestHandler):
    """Werkzeug's request handler, whose ``Server`` header names no Werkzeug or Python
    version (the development server adds it below the app, where no Flask hook reaches)."""

    def version_string(self) -> str:
        return "refkit-demo"


def port_from_env() -> int:
    raw = os.environ.get("PORT", "5000").strip() or "5000"
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SystemExit(f"PORT must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def main() -> int:
    port = port_from_env()
    app = create_app()
    url = f"http://{HOST}:{port}/"
    width = max(len(a.email) for a in ACCOUNTS)
    lines = [
        "",
        f"refkit demo shop: {url}",
        f"data: {app.instance_path} (delete it to start over)",
        "",
        "Logins (DEMO ONLY, these passwords are public):",
        *(
            f"  {a.email:<{width}}  {a.password:<12}  {'owner: ' if a.is_admin else ''}{a.name}"
            for a in ACCOUNTS
        ),
        "",
        f"Referral dashboard (log in as the owner): {url}refkit/admin",
        "Press Ctrl+C to stop.",
        "",
    ]
    print("\n".join(lines), flush=True)
    app.run(
        host=HOST, port=port, debug=False, use_reloader=False, request_handler=DemoRequestHandler
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
