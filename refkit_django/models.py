"""No tables of refkit's own in Django's database: refkit keeps its data in its store
(``REFKIT["STORE"]`` or ``REFKIT["DATABASE"]``, through SQLAlchemy, with its own migrations).

:class:`Dashboard` exists only to carry the permission ``refkit_django.view_dashboard``
(Django attaches permissions to a model): it is unmanaged, so no table is created.
"""

from __future__ import annotations

from django.db import models


class Dashboard(models.Model):
    """The referral program's dashboard (no table: only its permission)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = (("view_dashboard", "Can view the referral program's dashboard"),)
        verbose_name = "referral program dashboard"
