"""Which Redis a client talks to: one server, a Redis Cluster, or a master found through
Sentinel. Used by `redis_connection` (from the settings) and by the payment-side client
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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.asyncio.sentinel
import redis.cluster
import redis.sentinel

MODES = ("standalone", "cluster", "sentinel")


class TopologyError(ValueError):
    """The mode, URL or sentinels cannot be used; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Topology:
    mode: str = "standalone"
    url: str = "redis://127.0.0.1:6379/0"
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str = ""

    @classmethod
    def of(
        cls, mode: str, url: str, sentinels: Sequence[str] | str = (), sentinel_master: str = ""
    ) -> Topology:
        """Checked: raises `TopologyError` naming the problem."""
        if mode not in MODES:
            raise TopologyError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        listed = sentinels.split(",") if isinstance(sentinels, str) else list(sentinels)
        parsed = tuple(parse_host_port(s) for s in listed if s.strip())
        if mode == "sentinel":
            if not parsed:
                raise TopologyError("sentinel mode needs at least one sentinel host:port")
            if not sentinel_master.strip():
                raise TopologyError("sentinel mode needs the master's service name")
        elif parsed or sentinel_master:
            raise TopologyError(
                f"sentinels and a sentinel master are for sentinel mode, not {mode}"
            )
        if mode != "standalone":
            parts = urlsplit(url)
            if parts.scheme not in ("redis", "rediss"):
                raise TopologyError(f"{mode} mode needs a redis:// or rediss:// URL")
            if mode == "cluster" and parts.path.strip("/") not in ("", "0"):
                raise TopologyError("a Redis Cluster has only database 0: end the URL with /0")
        return cls(mode, url, parsed, sentinel_master.strip())


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TopologyError(f"{text.strip()!r} is not host:port")
    return host.strip("[]"), int(port)


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
