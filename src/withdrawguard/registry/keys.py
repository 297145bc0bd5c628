"""The registry's Redis keys. Other readers (the ops console) rely on these names.

Under the prefix `wg:{<app id>}:` (so test deployments never collide). The braces are a
Redis Cluster hash tag: every key of a deployment (registry, notifier, console) hashes to
the same slot, so each multi-key transaction, MGET or DEL stays on one node. The price:
one deployment's keys live on one cluster master (docs/deploy.md). Before this layout the
prefix was `wg:<app id>:` (`legacy_prefix`); `withdrawguard registry rebuild` moves a
registry over and deletes the old keys.

- `wd:<withdrawal id>` HASH, the fields of `projection.FIELDS` plus `src_<topic>`, the
  highest `partition:offset` applied from each source topic;
- `holds:open` ZSET of withdrawal ids whose hold is `held`, scored by the hold's
  `created_at` in epoch ms (oldest first); `holds:open:<customer id>` the same per customer;
- `alerts` ZSET of alert ids scored by `created_at` in epoch ms (the newest 1000);
- `alert:<alert id>` STRING, the alert's JSON as the detector wrote it (30 days);
- `registry:writer` HASH `{prefix: <this prefix>}`, set with every withdrawal update, so a
  client that finds it missing can say its app id names no deployment writing here;
- `registry:synced` STRING, written after each update when replicas must confirm it
  (WG_REDIS_MIN_REPLICAS), so that a WAIT on the same connection covers the update.
"""

from __future__ import annotations

from dataclasses import dataclass


def registry_prefix(app_id: str) -> str:
    """The key prefix of a deployment's registry (and, with `notify`, its notifier's)."""
    if not app_id or "{" in app_id or "}" in app_id:
        raise ValueError(f"an app id must be non-empty and without braces, got {app_id!r}")
    return f"wg:{{{app_id}}}:"


def notify_prefix(app_id: str) -> str:
    """The key prefix of a deployment's notifier (same hash tag as its registry)."""
    return f"{registry_prefix(app_id)}notify"


def legacy_prefix(app_id: str) -> str:
    """The registry prefix before keys were hash-tagged (read by nothing any more)."""
    return f"wg:{app_id}:"


@dataclass(frozen=True, slots=True)
class RegistryKeys:
    prefix: str

    def withdrawal(self, withdrawal_id: str) -> str:
        return f"{self.prefix}wd:{withdrawal_id}"

    @property
    def open_holds(self) -> str:
        return f"{self.prefix}holds:open"

    def open_holds_of(self, customer_id: str) -> str:
        return f"{self.prefix}holds:open:{customer_id}"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}alerts"

    def alert(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"

    @property
    def writer(self) -> str:
        return f"{self.prefix}registry:writer"

    @property
    def synced(self) -> str:
        return f"{self.prefix}registry:synced"

    def patterns(self) -> tuple[str, ...]:
        """SCAN patterns matching every registry key (and nothing of notifications)."""
        p = self.prefix
        return (f"{p}wd:*", f"{p}holds:open", f"{p}holds:open:*", f"{p}alerts", f"{p}alert:*")
