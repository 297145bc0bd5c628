"""Rules: small callables, one family per module. Each is built from its policy table
and called with a `Subject`; it returns a `Finding` or None."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from withdrawguard.engine.rules.access import (
    CredentialChangeChain,
    DeviceShared,
    FailedLoginBurst,
    NewDevice,
    SourceIpShared,
)
from withdrawguard.engine.rules.amount import Drain, WithdrawalBurst
from withdrawguard.engine.rules.base import Assessment, Finding, Rule, Subject
from withdrawguard.engine.rules.destination import (
    ConfirmedFraudDestination,
    DestChangedRecently,
    DestinationShared,
)
from withdrawguard.engine.rules.holdings import Liquidation

# Policy section name -> rule class, in the order their findings are listed.
REGISTRY: dict[str, Callable[[dict[str, Any]], Rule]] = {
    "confirmed_fraud_destination": ConfirmedFraudDestination,
    "destination_shared": DestinationShared,
    "dest_changed_recently": DestChangedRecently,
    "source_ip_shared": SourceIpShared,
    "device_shared": DeviceShared,
    "failed_login_burst": FailedLoginBurst,
    "new_device": NewDevice,
    "credential_change_chain": CredentialChangeChain,
    "drain": Drain,
    "withdrawal_burst": WithdrawalBurst,
    "liquidation": Liquidation,
}

RULE_CODES: frozenset[str] = frozenset(
    str(getattr(make, "code", name.upper())) for name, make in REGISTRY.items()
)
"""Every reason code a rule gives."""

__all__ = ["REGISTRY", "RULE_CODES", "Assessment", "Finding", "Liquidation", "Rule", "Subject"]
