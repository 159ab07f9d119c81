"""Strangling the monolith's inline webhooks: a delivery's occurrence, who delivers it, and
the signature a shadowed delivery would have carried (see extracted/webhooks/cutover.py)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("webhooks", "0002_inbox")]

    operations = [
        migrations.AddField("delivery", "occurrence", models.TextField(default="", db_default="")),
        migrations.AddField("delivery", "decided_mode", models.CharField(max_length=16, default="", db_default="")),
        migrations.AddField("delivery", "shadow_signature", models.TextField(default="", db_default="")),
        migrations.AddIndex("delivery", models.Index(fields=["occurrence"], name="webhooks_dlv_occurrence")),
    ]
