"""``strangler acl slot drop``: remove the Debezium relay's replication slot (and publication) cleanly.

A slot nobody reads pins WAL on the monolith's server until the disk fills, so
retiring the Debezium relay (or moving back to the Python relay) ends with this.
"""

from __future__ import annotations

from pathlib import Path

import psycopg

from acl.debezium.config import HEARTBEAT_TABLE
from acl.debezium.errors import SlotInUse


def drop_slot(
    database_url: str,
    slot_name: str,
    publication_name: str | None = None,
    offsets_dir: str | Path | None = None,
) -> bool:
    """Drop ``slot_name`` if it exists (True) or report it was not there (False).

    Refuses with ``SlotInUse`` while a relay holds it. With ``publication_name``
    the publication goes too; with ``offsets_dir`` the offsets file, whose
    position would be meaningless without the slot (a next start then snapshots
    whatever is still pending in the outbox).
    """
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT active_pid FROM pg_replication_slots"
            " WHERE slot_name = %s AND database = current_database()",
            (slot_name,),
        ).fetchone()
        if row is not None and row[0] is not None:
            raise SlotInUse(
                f"replication slot {slot_name!r} is in use by backend pid {row[0]} (a running Debezium "
                "relay). Stop that relay first; nothing was dropped."
            )
        if row is not None:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot_name,))
        if publication_name is not None:
            conn.execute(f'DROP PUBLICATION IF EXISTS "{publication_name}"'.encode())
        if conn.execute("SELECT to_regclass(%s)", (HEARTBEAT_TABLE,)).fetchone() != (None,):
            conn.execute(f"DELETE FROM {HEARTBEAT_TABLE} WHERE slot = %s".encode(), (slot_name,))
    if offsets_dir is not None:
        (Path(offsets_dir) / f"{slot_name}.offsets").unlink(missing_ok=True)
    return row is not None
