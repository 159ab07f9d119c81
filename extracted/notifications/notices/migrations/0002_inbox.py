"""The consumer's inbox (acl.adapters.pg_inbox) lives in this database too."""

from __future__ import annotations

from typing import Any

from django.db import migrations

from acl.adapters.pg_inbox import install_inbox


def _install_inbox(apps: Any, schema_editor: Any) -> None:
    s = schema_editor.connection.settings_dict
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    install_inbox(f"postgresql://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}")


class Migration(migrations.Migration):
    dependencies = [("notifications", "0001_initial")]

    operations = [migrations.RunPython(_install_inbox, migrations.RunPython.noop)]
