"""A route may be a compatibility shim: the path its extracted upstream serves it under."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("routing", "0002_audit_append_only")]

    operations = [
        migrations.AddField(
            model_name="routerule",
            name="upstream_path",
            field=models.CharField(
                blank=True, max_length=500, null=True,
                help_text="a compatibility shim: the path the extracted upstream serves this route "
                          "under, with the route's own {params}, e.g. "
                          "/v2/accounts/{wallet_id}/balance; empty: the legacy path"),
        ),
    ]
