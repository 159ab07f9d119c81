"""One client attempt at a payout (or one settlement), in a process of its own that may be killed.

``python -m tests.extracted.ledger_query.payout_attempt create KEY IDEMPOTENCY_KEY BODY [--kill]``
posts ``BODY`` to ``/api/v1/payouts/`` through the monolith's whole stack (Django's test
client, in process); ``settle PAYOUT_ID [--kill]`` runs the settlement. With ``--kill`` the
process SIGKILLs itself right after the ledger service answered the port's call and before
the monolith's transaction commits: the fault the ledger port must survive. Prints the
answer's status and body. Settings come from the environment (the test points them at its
databases and the ledger service).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any


def _kill_after_remote_call() -> None:
    from monolith.wallets import ledger_port

    original = ledger_port.port_for

    def crashing(wallet_id: int, mode_of: Any = None) -> ledger_port.LedgerPort:
        port = original(wallet_id, mode_of)
        if not isinstance(port, ledger_port.RemoteLedger):
            raise SystemExit("the ledger.write capability is not extracted for this wallet")
        port.after_remote_call = lambda answer: os.kill(os.getpid(), signal.SIGKILL)
        return port

    ledger_port.port_for = crashing


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings")
    import django

    django.setup()
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="what", required=True)
    create = sub.add_parser("create")
    create.add_argument("api_key")
    create.add_argument("idempotency_key")
    create.add_argument("body")
    settle = sub.add_parser("settle")
    settle.add_argument("payout_id", type=int)
    for p in (create, settle):
        p.add_argument("--kill", action="store_true")
    args = parser.parse_args()
    if args.kill:
        _kill_after_remote_call()
    if args.what == "settle":
        from monolith.payouts.services import settle_payout

        print(settle_payout(args.payout_id))
        return
    from django.test import Client

    response = Client().post("/api/v1/payouts/", data=args.body, content_type="application/json",
                             headers={"Authorization": f"Api-Key {args.api_key}",
                                      "Idempotency-Key": args.idempotency_key})
    sys.stdout.write(f"{response.status_code} {response.content.decode()}\n")


if __name__ == "__main__":
    main()
