"""pinax-referrals' URLs, where its docs mount them: ``/referrals/<code>/`` is the landing."""

from __future__ import annotations

from django.urls import include, path

urlpatterns = [path("referrals/", include("pinax.referrals.urls"))]
