"""The demo shop's views and routes (its ``ROOT_URLCONF``)."""

from __future__ import annotations

from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect
from django.template import engines
from django.urls import include, path
from django.views.decorators.http import require_POST

import refkit_django

from . import PRODUCTS

_LAYOUT = """{% load refkit %}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Demo shop</title>
</head><body><header><a href="/">Demo shop</a>
{% if user.is_authenticated %}<span id="who">{{ user.username }}</span>
<form method="post" action="/logout">{% csrf_token %}<button>Log out</button></form>
{% else %}<a href="/signup">Sign up</a> <a href="/login">Log in</a>{% endif %}</header><main>
{% if message %}<p role="status" id="message">{{ message }}</p>{% endif %}
CONTENT</main></body></html>"""
_HOME = """<h1>Coffee, roasted this week</h1>
{% refkit_offer '40.00' 'EUR' %}
<ul>{% for slug, name, price in products %}<li>{{ name }}: {{ price }} EUR
<form method="post" action="/checkout">{% csrf_token %}
<input type="hidden" name="product" value="{{ slug }}"><button id="buy-{{ slug }}">Buy</button>
</form></li>{% endfor %}</ul>
{% refkit_invite %}"""
_FORM = """<h1>{{ title }}</h1><form method="post">{% csrf_token %}
<label>User name <input name="username" id="username" required></label>
{% if signup %}<label>Email <input name="email" id="email" type="email" required></label>
{% endif %}
<label>Password <input name="password" id="password" type="password" required></label>
<button id="submit">{{ title }}</button></form>"""


def _render(request: HttpRequest, content: str, **context: object) -> HttpResponse:
    template = engines["django"].from_string(_LAYOUT.replace("CONTENT", content))
    return HttpResponse(template.render(context, request))


def home(request: HttpRequest) -> HttpResponse:
    products = [(slug, name, price) for slug, (name, price) in PRODUCTS.items()]
    return _render(request, _HOME, products=products, message=request.GET.get("paid"))


def signup(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request, _FORM, title="Sign up", signup=True)
    users = User
    username = request.POST["username"].strip()
    if not username or users.objects.filter(username=username).exists():
        return _render(request, _FORM, title="Sign up", signup=True, message="Taken.")
    user = users.objects.create_user(username, request.POST["email"], request.POST["password"])
    login(request, user)
    refkit_django.attribute_signup(request, user.pk, email=user.email)
    return redirect("/")


def log_in(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _render(request, _FORM, title="Log in")
    user = authenticate(
        request, username=request.POST["username"], password=request.POST["password"]
    )
    if user is None:
        return _render(request, _FORM, title="Log in", message="Wrong user name or password.")
    login(request, user)
    return redirect("/")


@require_POST
def log_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("/")


@require_POST
@login_required
@refkit_django.track_conversion
def checkout(request: HttpRequest) -> HttpResponseBase:
    slug = request.POST.get("product", "")
    if slug not in PRODUCTS:
        return HttpResponse("No such product.", status=404)
    name, price = PRODUCTS[slug]
    order_id = f"demo-{request.user.pk}-{User.objects.count()}-{slug}-" + str(
        request.session.get("orders", 0)
    )
    request.session["orders"] = int(request.session.get("orders", 0)) + 1
    claim = refkit_django.claim_discount(request, order_id, price, "EUR")
    paid = price - claim.discount
    refkit_django.conversion(request, order_id=order_id, amount=paid, currency="EUR")
    return redirect(f"/?paid=Paid {paid} EUR for {name}.")


urlpatterns = [
    path("", home),
    path("signup", signup),
    path("login", log_in),
    path("logout", log_out),
    path("checkout", checkout),
    path("", include("refkit_django.urls")),
]
