"""``python -m acl.debezium DB_URL BOOTSTRAP OFFSETS_DIR [SLOT]``: one Debezium relay process.

What the fault tests start and kill -9 (``strangler acl relay --debezium`` is the operator's
way in). A package's ``__init__`` never runs as ``__main__``, hence this module.
"""

from __future__ import annotations

import sys

from acl.debezium import run

if len(sys.argv) < 4:
    raise SystemExit("usage: python -m acl.debezium DATABASE_URL BOOTSTRAP OFFSETS_DIR [SLOT_NAME]")
run(sys.argv[1], sys.argv[2], sys.argv[3], *sys.argv[4:5])
