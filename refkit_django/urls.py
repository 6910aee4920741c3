"""``path("", include("refkit_django.urls"))``: the landing route, the JSON API and the
dashboard, in the ``refkit`` namespace (``reverse("refkit:landing", kwargs={"code": ...})``)."""

from __future__ import annotations

from django.urls import path, re_path

from . import admin, views

app_name = "refkit"

urlpatterns = [
    path("r/<path:code>", views.landing, name="landing"),
    path("refkit/api/me", views.api_me, name="api_me"),
    path("refkit/api/offer", views.api_offer, name="api_offer"),
    path("refkit/admin/", admin.dashboard, name="dashboard"),
    path("refkit/admin/referrer/", admin.referrer, name="referrer"),
    path("refkit/admin/admin.css", admin.stylesheet, name="stylesheet"),
    re_path(
        r"^refkit/admin/rewards/(?P<reward_id>[0-9]{1,12})/(?P<action>approve|revoke)$",
        admin.decide,
        name="decide",
    ),
    path("refkit/admin/rewards/approve-due/", admin.approve_due, name="approve_due"),
    path("refkit/admin/payouts/", admin.pay_out, name="pay_out"),
    path("refkit/admin/referrals/clear/", admin.clear_flags, name="clear_flags"),
]
