"""The Django project of the pinax-referrals side of ``bench/pinax.py``.

Loaded only by ``worker.py``, under ``bench/.venv-pinax/bin/python`` (Django and pinax-referrals
are not refkit dependencies). The database is an SQLite file named by ``PINAX_BENCH_DB``; the
worker gives its connections refkit's SQLite settings (WAL, ``synchronous=NORMAL``, a busy
timeout) through ``connection_created``, and write transactions begin ``IMMEDIATE`` as refkit's
do. Django already turns SQLite's foreign keys on, as refkit does.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-django-secret-key-0123456789abcdefghijklmnop"
DEBUG = False  # True would keep every query in memory
ALLOWED_HOSTS = ["testserver", "shop.example"]
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.sites",
    "pinax.referrals",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "pinax.referrals.middleware.SessionJumpingMiddleware",
]
ROOT_URLCONF = "urls"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["PINAX_BENCH_DB"],
        "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        "CONN_MAX_AGE": None,  # one connection for the whole run, as refkit's pool keeps
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# Fast hashing for the users made at set-up (they get unusable passwords anyway).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
