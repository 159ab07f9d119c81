"""``ledger_entry.created_at``: when the entry was written in this database.

An entry has no time of its own in the legacy model (the monolith's row becomes two legs).
Once the ledger is the writer (``ledger.write`` extracted), ``ledger_sync`` mirrors each
posting into the legacy tables a moment later; reconciliation's lag window needs this time to
tell an entry not mirrored yet from one missing for good. Existing rows take the time of the
migration; every writer (projector, write path, backfill) leaves the column to its default.
"""

from __future__ import annotations

from django.db import migrations, models
from django.db.models.functions import Now


class Migration(migrations.Migration):
    dependencies = [("ledger_query", "0005_write_gate")]

    operations = [
        migrations.AddField(model_name="ledgerentry", name="created_at",
                            field=models.DateTimeField(db_default=Now())),
    ]
