"""The app's configuration: ``INSTALLED_APPS += ["refkit_django"]``."""

from __future__ import annotations

from django.apps import AppConfig
from django.test.signals import setting_changed


class RefkitConfig(AppConfig):
    """refkit for Django: the program from ``settings.REFKIT`` (:mod:`refkit_django.conf`),
    built on first use and again when the settings change (``override_settings``)."""

    name = "refkit_django"
    label = "refkit_django"
    verbose_name = "Referral program"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from .conf import when_settings_change

        setting_changed.connect(when_settings_change, dispatch_uid="refkit_django.settings")
