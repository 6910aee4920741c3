"""``python -m refkit_django.demo [--port 8000] [--data DIR]``: the demo shop on 127.0.0.1.

It prints the shop's address once it listens (``--port 0``: any free port).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m refkit_django.demo")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data", type=Path, help="where the SQLite files go (a temporary folder)")
    args = parser.parse_args(argv)
    data = (args.data or Path(tempfile.mkdtemp(prefix="refkit-django-demo-"))).resolve()
    data.mkdir(parents=True, exist_ok=True)

    import django
    from django.conf import settings

    from . import settings as demo_settings

    key = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(48)
    settings.configure(**demo_settings(data, key))
    django.setup()
    from django.contrib.auth.models import Permission, User
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    call_command("migrate", verbosity=0, interactive=False)
    users = User
    if not users.objects.filter(username="owner").exists():
        owner = users.objects.create_user("owner", "owner@example.com", "owner")
        owner.user_permissions.add(Permission.objects.get(codename="view_dashboard"))
    server = make_server("127.0.0.1", args.port, get_wsgi_application(), handler_class=_Quiet)
    print(f"http://127.0.0.1:{server.server_port}/", flush=True)
    print(f"data in {data}; the owner (password: owner) sees /refkit/admin/", file=sys.stderr)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
