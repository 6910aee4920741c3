"""A small Django shop for refkit_django's tests: its settings (Django is configured once per
test process, here), its views and its URLs (``ROOT_URLCONF`` is this module).

Users are Django's own (``django.contrib.auth``, in an in-memory SQLite database migrated by
the ``django_db`` fixture of :mod:`tests.support.django_fixtures`).
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import django
from django.conf import settings

from .settings import SECRET

# Playwright's sync API (the browser tests' session-wide Chromium) keeps an event loop running
# in the main thread, and Django then refuses database work there as "async"; the tests
# call Django synchronously, which is what this switch (meant for such environments) allows.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS=["testserver", "127.0.0.1", "localhost"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "refkit_django",
        ],
        MIDDLEWARE=[
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "refkit_django.middleware.ReferralMiddleware",
        ],
        ROOT_URLCONF=__name__,
        # One in-memory database shared by every connection of the process: once Playwright's
        # event loop runs in the main thread, Django's connections are kept per context, and
        # a new connection to a plain ":memory:" would open an empty database.
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": "file:refkit_django_tests?mode=memory&cache=shared",
                "OPTIONS": {"uri": True},
            }
        },
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "APP_DIRS": True,
                "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
            }
        ],
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
        PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
        REFKIT={},
    )
    django.setup()

from django.contrib.auth import get_user_model, login
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template import engines
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt

import refkit_django

PAGE = engines["django"].from_string(
    "{% load refkit %}<p>code: {% refkit_code %}</p><p>link: {% refkit_link %}</p>"
    '<p>campaign link: {% refkit_link campaign="footer" %}</p>'
    "{% refkit_invite %}{% refkit_offer amount currency %}"
)


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Welcome to the shop")


def page(request: HttpRequest) -> HttpResponse:
    amount, currency = request.GET.get("amount", "40.00"), request.GET.get("currency", "EUR")
    return HttpResponse(PAGE.render({"amount": amount, "currency": currency}, request))


@csrf_exempt
def signup(request: HttpRequest) -> HttpResponse:
    """Creates the user, logs them in, and binds their referral."""
    user = get_user_model().objects.create_user(
        username=request.POST["username"], email=request.POST.get("email", "")
    )
    login(request, user)
    referral = refkit_django.attribute_signup(
        request, user.pk, email=request.POST.get("email") or None
    )
    return JsonResponse({"referrer": referral.referrer_id if referral else None})


def _order(request: HttpRequest) -> dict[str, Any]:
    return {
        "order_id": request.POST["order_id"],
        "amount": Decimal(request.POST["amount"]),
        "currency": request.POST.get("currency", "EUR"),
        "customer_id": request.POST.get("customer_id") or None,
    }


@csrf_exempt
@refkit_django.track_conversion
def checkout(request: HttpRequest) -> HttpResponse:
    """Claims the discount, "charges" (``fail=1``: the payment fails), records the order."""
    order = _order(request)
    claim = refkit_django.claim_discount(
        request, order["order_id"], order["amount"], order["currency"],
        customer_id=order["customer_id"],
    )  # fmt: skip
    paid = order["amount"] - claim.discount
    if request.POST.get("fail"):
        return JsonResponse({"error": "payment declined"}, status=402)
    if request.POST.get("crash"):
        raise RuntimeError("the payment provider crashed")
    refkit_django.conversion(request, **{**order, "amount": paid})
    return JsonResponse({"paid": str(paid), "discount": str(claim.discount)})


@csrf_exempt
def checkout_atomic(request: HttpRequest) -> HttpResponse:
    """The order and its conversion in one ``atomic`` block (``rollback=1``: it rolls back)."""
    order = _order(request)
    try:
        with transaction.atomic():
            refkit_django.conversion(request, **order)
            if request.POST.get("rollback"):
                raise RuntimeError("the order failed")
    except RuntimeError:
        return JsonResponse({"error": "order failed"}, status=500)
    return JsonResponse({"ok": True})


def display_name(user_id: str) -> str | None:
    """The shop's ``REFKIT["DISPLAY_NAME"]`` in tests/test_django_growth.py: alice has a name,
    bob a hostile one (script tags and SVG-breaking characters), the others none."""
    names = {"alice": "Alice Martin", "bob": '<script>alert("x")</script>&"\'</svg>'}
    return names.get(user_id)


urlpatterns = [
    path("", home),
    path("page", page),
    path("signup", signup),
    path("checkout", checkout),
    path("checkout-atomic", checkout_atomic),
    path("", include("refkit_django.urls")),
]
