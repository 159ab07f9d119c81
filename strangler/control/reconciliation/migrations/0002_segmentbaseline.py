"""Kept clean segments per run and comparison, for incremental reconciliation runs."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("reconciliation", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SegmentBaseline",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("comparison", models.CharField(max_length=120)),
                ("data", models.JSONField(help_text="reconcile.incremental.to_json of the kept segments")),
                ("digest", models.CharField(help_text="sha256 of data, as in the manifest", max_length=64)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("run", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="baselines", to="reconciliation.reconciliationrun")),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("run", "comparison"), name="reconciliation_baseline_per_step")],
            },
        ),
    ]
