"""Reading a customer state written by the first workers (version 1: a JSON object),
so tables and changelogs written before stay usable."""

from __future__ import annotations

from typing import Any

from withdrawguard.engine.state import (
    CaseRec,
    ChangeRec,
    CustomerState,
    FlagRec,
    LoginRec,
    SharedRec,
    Sighting,
    SuppressionRec,
    WithdrawalRec,
)


def decode_v1(d: dict[str, Any]) -> CustomerState:
    """Version 1: one JSON object, each record an object of its fields."""
    return CustomerState(
        customer_id=d["customer_id"],
        horizon=d["horizon"],
        logins_ok={k: LoginRec(**v) for k, v in d["logins_ok"].items()},
        logins_failed=d["logins_failed"],
        devices={k: Sighting(**v) for k, v in d["devices"].items()},
        networks={k: Sighting(**v) for k, v in d["networks"].items()},
        changes={k: ChangeRec(**v) for k, v in d["changes"].items()},
        withdrawals={k: WithdrawalRec(**v) for k, v in d["withdrawals"].items()},
        cases={k: CaseRec(**v) for k, v in d["cases"].items()},
        shared={k: SharedRec(**v) for k, v in d["shared"].items()},
        fraud_dest=d["fraud_dest"],
        verified_dest=d["verified_dest"],
        flagged_ips={
            ip: {k: FlagRec(**v) for k, v in waves.items()}
            for ip, waves in d["flagged_ips"].items()
        },
        seen=d["seen"],
        suppressions={k: SuppressionRec(**v) for k, v in d.get("suppressions", {}).items()},
        pruned=d.get("pruned", 0),
    )
