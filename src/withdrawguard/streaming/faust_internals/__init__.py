"""Every use of Faust's and aiokafka's private names lives here, and nowhere else (ruff's
SLF rule holds everywhere else). What changes Faust's behaviour is installed for this
app alone, through Faust's own extension points, never by patching classes:

- `table_store`: the `wgrocksdb://` store, one memory budget for every partition
  (the `faust.stores` entry point);
- `transport`: the `wgkafka://` transport of the app's consumer and producer, whose
  aiokafka clients survive a connection reset uvloop reports first (`kafka_client`) and
  whose seek back to the committed offsets reaches partitions that have none (the
  `faust.transports` entry point, `broker_consumer` and `broker_producer`);
- `drain`: the consumer's drain loop, interruptible only where a hand-over could wait
  (the `wgkafka://` consumer's);
- `batches`: an agent's batches as they come (every event already waiting, at once),
  in place of Faust's `take_events` window;
- `send_now`: the producer's batches sent without its linger, when a batch agent is about
  to wait for the broker;
- `sensors`: the lean monitor in place of Faust's Monitor, keeping what is read of it;
- `recovery`: the table manager whose restore ends with the consumer's flow off (the
  `TableManager` setting);
- `current_event`: whose partition a table write goes to, inside a batch;
- `fetch_state`, `introspect`, `worker_dump`: reading fetch, recovery, producer, commit
  and cluster state for the guards and the logs (`kill -USR1` a worker for the dump).

`app_options(settings)` is the app configuration that installs them (`SPEED_OPTIONS` the
Faust settings the worker runs with for speed, `lean_monitor` its monitor); it first checks that
the installed Faust and aiokafka are the versions this code was written against (their
private names change without notice), and refuses others with a clear message.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from withdrawguard.streaming.faust_internals.recovery import TableManager
from withdrawguard.streaming.faust_internals.sensors import lean_monitor
from withdrawguard.streaming.faust_internals.table_store import SCHEME as STORE
from withdrawguard.streaming.faust_internals.transport import transport_urls

__all__ = ["SPEED_OPTIONS", "UnsupportedFaust", "app_options", "check_versions", "lean_monitor"]

SPEED_OPTIONS: dict[str, Any] = {"cython_optimizations": True}
"""Faust settings for speed alone (issue 29): the compiled stream iterator takes the values
already in a stream's buffer without awaiting the channel, and the compiled conductor
decodes a message once for every channel of the same key and value types (Faust's
`cython_optimizations`, off by default). The equivalence, agent and fault tests pass
with it (docs/performance.md)."""

WRITTEN_FOR = {"faust-streaming": ("0.15.",), "aiokafka": ("0.14.",)}
"""The releases whose private names this package was read against (a version prefix)."""


class UnsupportedFaust(RuntimeError):
    """The installed Faust or aiokafka is not a release this package was written for."""


def check_versions(installed: dict[str, str | None] | None = None) -> None:
    """Raise `UnsupportedFaust` naming each package whose installed version is not one
    of `WRITTEN_FOR` (`installed`: name -> version, read from the environment if None)."""
    found = installed if installed is not None else {n: _installed(n) for n in WRITTEN_FOR}
    wrong = [
        f"{name} {found.get(name) or 'not installed'} (written for {_releases(prefixes)})"
        for name, prefixes in WRITTEN_FOR.items()
        if not (found.get(name) or "").startswith(prefixes)
    ]
    if wrong:
        raise UnsupportedFaust(
            "withdrawguard extends private parts of Faust and aiokafka and was not written "
            f"for the versions installed: {'; '.join(wrong)}. Install the versions of "
            "requirements.lock, or read streaming/faust_internals/ against the new ones."
        )


def app_options(broker_url: str, memory_store: bool) -> dict[str, Any]:
    """The Faust settings that install this package's extensions on one app."""
    check_versions()
    return {
        "store": "memory://" if memory_store else STORE,
        "broker_consumer": transport_urls(broker_url),
        "broker_producer": transport_urls(broker_url),
        "TableManager": TableManager,
    }


def _installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _releases(prefixes: tuple[str, ...]) -> str:
    return " or ".join(p + "x" for p in prefixes)
