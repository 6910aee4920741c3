# The Django example of the docs before refkit_django (main at c392c32,
# docs/examples/django_shop.py), kept unchanged as the regression baseline of
# tests/test_django_holes.py: each hole it leaves is shown there against this file.
# It is imported after tests.support.django_site has configured Django, so its own
# settings.configure() is skipped; nothing else is changed.
# ruff: noqa
# mypy: ignore-errors
"""django_shop.py: refkit's core in Django, as one file (``python django_shop.py runserver``).

In a real project the settings go to ``settings.py``, the program and middleware to your
app's ``referrals.py``, the views to ``views.py`` and the routes to ``urls.py``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import django
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import path
from django.views.decorators.http import require_POST

import refkit

if not settings.configured:  # settings.py
    settings.configure(
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "dev only: set 32+ random characters"),
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        MIDDLEWARE=["django.middleware.csrf.CsrfViewMiddleware", f"{__name__}.ReferralMiddleware"],
    )
    django.setup()

# referrals.py: one program for the whole process, signing with Django's SECRET_KEY.
WINDOW = timedelta(days=30)
program = refkit.ReferralProgram(
    secret_key=settings.SECRET_KEY,
    store=os.environ.get("REFKIT_DATABASE_URL", "sqlite:///refkit.db"),
    rules=refkit.RewardRules(
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),
        referee_reward=refkit.Reward.fixed(Decimal("5"), "EUR"),
        attribution_window=WINDOW,
    ),
)
cookies = refkit.TokenSigner(settings.SECRET_KEY, "referral-cookie", max_age=WINDOW)


class ReferralMiddleware:
    """``?ref=<code>`` on any page: count a visit and keep the code in a signed cookie."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        code = request.GET.get("ref")
        if code and "refkit_referral" not in request.COOKIES:  # first touch wins
            try:
                program.record_visit(code)
                token = cookies.dumps({"code": program.verify(code)})
            except refkit.InvalidCode:
                return response
            response.set_cookie(
                "refkit_referral",
                token,
                max_age=int(WINDOW.total_seconds()),
                httponly=True,
                samesite="Lax",
                secure=request.is_secure(),
            )
        return response


def referral_code(request: HttpRequest) -> str | None:
    """The code in the visitor's referral cookie, if it is genuine and fresh."""
    try:
        return str(cookies.loads(request.COOKIES.get("refkit_referral"))["code"])
    except refkit.InvalidToken:  # missing, expired, or tampered with
        return None


# views.py
def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Welcome to the shop")


@require_POST
def signup(request: HttpRequest) -> HttpResponse:
    user_id = request.POST["email"]  # ... your sign-up creates request.user here
    code = referral_code(request)
    if code is not None:
        # A code that no longer resolves, or their own: no referral.
        with contextlib.suppress(refkit.InvalidCode, refkit.SelfReferral):
            program.attribute(user_id, code)
    return redirect("/")


@require_POST
def order_paid(request: HttpRequest) -> JsonResponse:
    """Your payment confirmation (a webhook, the order's save): safe to call twice."""
    conversion = program.record_conversion(
        request.POST["order_id"],
        request.POST["email"],
        Decimal(request.POST["amount"]),
        "EUR",
        code=referral_code(request),  # a guest checkout binds through the cookie too
    )
    return JsonResponse({"reasons": conversion.reasons, "rewards": len(conversion.rewards)})


# urls.py
urlpatterns = [
    path("", home),
    path("signup", signup),
    path("orders/paid", order_paid),
]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
