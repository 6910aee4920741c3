"""refkit for Django: ``INSTALLED_APPS += ["refkit_django"]``.

::

    # settings.py
    INSTALLED_APPS += ["refkit_django"]
    MIDDLEWARE += ["refkit_django.middleware.ReferralMiddleware"]
    REFKIT = {"RULES": refkit.RewardRules(...), "DATABASE": "default"}
    # urls.py
    urlpatterns += [path("", include("refkit_django.urls"))]

    # the registration view, once the user exists:
    refkit_django.attribute_signup(request, user.pk, email=user.email)

    # the checkout view:
    @refkit_django.track_conversion
    def checkout(request): ...
        refkit_django.conversion(request, order_id=order.pk, amount=order.total, currency="EUR")

See the "Django" page of the documentation.
"""

from .conf import program, reset
from .shop import (
    attribute_signup,
    captured_code,
    claim_discount,
    code,
    conversion,
    offer,
    share_link,
    track_conversion,
)

__all__ = [
    "attribute_signup",
    "captured_code",
    "claim_discount",
    "code",
    "conversion",
    "offer",
    "program",
    "reset",
    "share_link",
    "track_conversion",
]
