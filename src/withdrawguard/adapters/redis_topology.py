"""Clients of the Redis a `Topology` names: one server, a Redis Cluster, or a master found
through Sentinel (`Topology` itself, parsed and checked, is `settings.redis`'s). Used by
`redis_connection` (from the settings) and by the payment-side client
(`withdrawguard.client`, from its arguments), so both reach Redis the same way.

- `standalone`: the URL names the server.
- `cluster`: the URL names any one node (a seed); the client learns the others and
  follows slot moves. Every multi-key operation of withdrawguard stays in one slot
  (`registry.keys`: the deployment's keys share the hash tag `{<app id>}`).
- `sentinel`: the sentinels (`host:port`) name the current master of `sentinel_master`;
  the URL gives only the scheme (`rediss://` for TLS) and the database number. After a
  failover the next connection goes to the new master.

Password, user name and TLS options go to the data nodes in every mode. Sentinels are
asked with the same TLS options and socket timeouts, without a password.
"""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

from withdrawguard.settings.redis import Topology


def async_client(top: Topology, **options: Any) -> redis.asyncio.Redis[bytes]:
    """An asyncio client of `top` (connects on first use)."""
    if top.mode == "cluster":
        cluster: redis.asyncio.cluster.RedisCluster[bytes] = (
            redis.asyncio.cluster.RedisCluster.from_url(top.url, **options)
        )
        # RedisCluster offers every command and pipeline form withdrawguard uses (same-slot
        # transactions included), but is not a subclass of Redis: one cast, here.
        return cast("redis.asyncio.Redis[bytes]", cluster)
    if top.mode == "sentinel":
        master, node = _sentinel_options(top, options)
        sentinel = redis.asyncio.sentinel.Sentinel(list(top.sentinels), sentinel_kwargs=node)
        client: redis.asyncio.Redis[bytes] = sentinel.master_for(top.sentinel_master, **master)
        return client
    plain: redis.asyncio.Redis[bytes] = redis.asyncio.Redis.from_url(top.url, **options)
    return plain


def sync_client(top: Topology, **options: Any) -> redis.Redis[bytes]:
    """A blocking client of `top` (connects on first use)."""
    if top.mode == "cluster":
        cluster: redis.cluster.RedisCluster[bytes] = redis.cluster.RedisCluster.from_url(
            top.url, **options
        )
        return cast("redis.Redis[bytes]", cluster)  # same commands, not a subclass
    if top.mode == "sentinel":
        master, node = _sentinel_options(top, options)
        sentinel = redis.sentinel.Sentinel(list(top.sentinels), sentinel_kwargs=node)
        client: redis.Redis[bytes] = sentinel.master_for(top.sentinel_master, **master)
        return client
    plain: redis.Redis[bytes] = redis.Redis.from_url(top.url, **options)
    return plain


_NOT_FOR_SENTINELS = frozenset({"password", "username"})


def _sentinel_options(top: Topology, options: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """(options of the master's connections, options of the sentinels' connections)."""
    parts = urlsplit(top.url)
    tls = {"ssl": True} if parts.scheme == "rediss" else {}
    db = parts.path.strip("/")
    master = {**options, **tls, "db": int(db) if db.isdigit() else 0}
    node = {k: v for k, v in options.items() if k not in _NOT_FOR_SENTINELS} | tls
    return master, node
