"""Where Redis is, as the settings say it: `Topology` (mode, URL, sentinels, master),
checked and parsed without connecting. `adapters.redis_topology` builds the clients.

- `standalone`: the URL names the server.
- `cluster`: the URL names any one node (a seed).
- `sentinel`: the sentinels (`host:port`) name the current master of `sentinel_master`;
  the URL gives only the scheme (`rediss://` for TLS) and the database number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

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
