"""django_shop.py: a Django shop with a double-sided referral program, as one file.

Run it with ``python django_shop.py migrate`` then ``python django_shop.py runserver``. In a
real project the settings go to ``settings.py``, the views to ``views.py`` and the routes to
``urls.py``; the lines marked ``# refkit`` are all the referral program needs.
"""

from __future__ import annotations

import os
import sys
from decimal import Decimal
from pathlib import Path

import django
from django.conf import settings

import refkit

HERE = Path(__file__).resolve().parent
# settings.py
REFKIT = {  # refkit
    "RULES": refkit.RewardRules(  # refkit
        currency="EUR",  # refkit
        referrer_reward=refkit.Reward.fixed(Decimal("10"), "EUR"),  # refkit: for the referrer
        referee_discount=refkit.Reward.fixed(Decimal("5"), "EUR"),  # refkit: off the friend's order
    ),  # refkit
}  # refkit; the store: BASE_DIR / "refkit.db", or "DATABASE": "default", or "STORE": a URL
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "refkit_django.middleware.ReferralMiddleware",  # refkit: ?ref= and the signed cookie
]
if not settings.configured:
    settings.configure(
        BASE_DIR=HERE,
        SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "dev only: set 50 random characters!"),
        ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth",
                        "django.contrib.sessions", "refkit_django"],  # refkit
        MIDDLEWARE=MIDDLEWARE,
        REFKIT=REFKIT,
        ROOT_URLCONF=__name__,
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "shop.db"}},
        TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
                    "OPTIONS": {"context_processors": [  # the tags need the request
                        "django.template.context_processors.request"]}}],
    )  # fmt: skip
    django.setup()

# views.py
from django.contrib.auth import get_user_model, login  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.shortcuts import redirect  # noqa: E402
from django.template import engines  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.views.decorators.http import require_POST  # noqa: E402

import refkit_django  # noqa: E402  refkit

HOME = engines["django"].from_string(
    "{% load refkit %}<h1>The shop</h1>{% refkit_invite %}"  # refkit: "Invite a friend"
    "{% refkit_offer '40.00' 'EUR' %}"  # refkit: the friend's discount, when there is one
)


def home(request: HttpRequest) -> HttpResponse:
    return HttpResponse(HOME.render({}, request))


@require_POST
def signup(request: HttpRequest) -> HttpResponse:
    user = get_user_model().objects.create_user(request.POST["username"], request.POST["email"])
    login(request, user)
    refkit_django.attribute_signup(request, user.pk, email=user.email)  # refkit
    return redirect("/")


@require_POST
@login_required
@refkit_django.track_conversion  # refkit: recorded only if the view answers below 400
def checkout(request: HttpRequest) -> HttpResponse:
    order_id, total = request.POST["order_id"], Decimal(request.POST["total"])  # your order
    claim = refkit_django.claim_discount(request, order_id, total, "EUR")  # refkit
    paid = total - claim.discount  # charge this much
    refkit_django.conversion(request, order_id=order_id, amount=paid, currency="EUR")  # refkit
    return JsonResponse({"paid": str(paid), "discount": str(claim.discount)})


# urls.py
urlpatterns = [
    path("", home),
    path("signup", signup),
    path("checkout", checkout),
    path("", include("refkit_django.urls")),  # refkit: /r/<code>, /refkit/api/, /refkit/admin/
]

if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
