"""The routing gate's reconciliation evidence: the capability's parity certificate.

Route capabilities are named after URL paths (``wallets.transactions``); reconciliation
capabilities after the data they compare (``ledger``). ``RECONCILED_AS`` says which
certificate gates which route capability; a route capability not listed is looked up
under its own name.
"""

from __future__ import annotations

from strangler.control.reconciliation import services
from strangler.control.reconciliation.config import ReconcileConfig
from strangler.control.routing import evidence
from strangler.control.routing.gates import Evidence, Verdict

RECONCILED_AS = {"wallets": "ledger", "wallets.balance": "ledger", "wallets.transactions": "ledger",
                 "ledger.write": "ledger"}
_VERDICTS = {"pass": Verdict.OK, "fail": Verdict.FAILED, "insufficient": Verdict.INSUFFICIENT}


def parity_evidence(capability: str) -> Evidence:
    from strangler.control.shadow.side_effects import is_side_effect

    if is_side_effect(capability):
        return Evidence("reconciliation", Verdict.OK,
                        f"not applicable: {capability} moves no data; its parity is the shadow "
                        "evidence's comparison of deliveries", {"certificate": None})
    name = RECONCILED_AS.get(capability, capability)
    cert = services.certificate(name, config=ReconcileConfig.from_environ())
    detail = f"parity certificate {name}: {cert.verdict}: {cert.reason}"
    if cert.verdict == "insufficient" and not cert.head_hash:
        detail = "no parity certificate"  # the words the gate has always used; facts say more
    return Evidence("reconciliation", _VERDICTS[str(cert.verdict)], detail,
                    {"certificate": cert.as_json()})


def register() -> None:
    """Make the gate read parity certificates (replaces the placeholder provider)."""
    evidence.register_provider("reconciliation", parity_evidence)
