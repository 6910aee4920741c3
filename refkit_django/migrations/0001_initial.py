"""The dashboard's permission (an unmanaged model: no table is created)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Dashboard",
            fields=[
                (
                    "id",
                    models.AutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
            ],
            options={
                "verbose_name": "referral program dashboard",
                "permissions": [("view_dashboard", "Can view the referral program's dashboard")],
                "managed": False,
                "default_permissions": (),
            },
        ),
    ]
