"""Redis beyond one node: the settings and arguments that say where Redis is."""

from __future__ import annotations

import pytest

from withdrawguard.adapters.redis_connection import topology
from withdrawguard.adapters.redis_topology import _sentinel_options
from withdrawguard.registry.keys import RegistryKeys, notify_prefix, registry_prefix
from withdrawguard.settings import Settings, SettingsError
from withdrawguard.settings.redis import Topology, TopologyError

SENTINEL = {
    "WG_REDIS_MODE": "sentinel",
    "WG_REDIS_SENTINELS": "10.0.0.1:26379, sentinel-2:26379",
    "WG_REDIS_SENTINEL_MASTER": "wg-registry",
    "WG_REDIS_MIN_REPLICAS": "1",
}


def test_standalone_is_the_default_and_needs_nothing_new() -> None:
    assert topology(Settings.from_env({})) == Topology("standalone", "redis://127.0.0.1:6379/0")


def test_sentinel_settings_become_a_list_of_sentinels_and_the_master_name() -> None:
    top = topology(Settings.from_env(SENTINEL))
    assert top.sentinels == (("10.0.0.1", 26379), ("sentinel-2", 26379))
    assert top.sentinel_master == "wg-registry"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"WG_REDIS_MODE": "replicated"}, "mode must be one of standalone, cluster, sentinel"),
        ({**SENTINEL, "WG_REDIS_SENTINELS": ""}, "needs at least one sentinel host:port"),
        ({**SENTINEL, "WG_REDIS_SENTINELS": "host-without-port"}, "is not host:port"),
        ({**SENTINEL, "WG_REDIS_SENTINELS": "h:99999"}, "is not host:port"),
        ({**SENTINEL, "WG_REDIS_SENTINEL_MASTER": ""}, "needs the master's service name"),
        ({**SENTINEL, "WG_REDIS_MIN_REPLICAS": "0"}, "needs WG_REDIS_MIN_REPLICAS of at least 1"),
        ({"WG_REDIS_SENTINELS": "h:1"}, "are for sentinel mode, not standalone"),
        ({"WG_REDIS_MODE": "cluster", "WG_REDIS_URL": "redis://n1:7000/3"}, "only database 0"),
        ({"WG_REDIS_MODE": "cluster", "WG_REDIS_URL": "unix:///r.sock"}, "redis:// or rediss://"),
        ({"WG_REDIS_MODE": "cluster", "WG_REDIS_MIN_REPLICAS": "1"}, "not supported"),
        ({"WG_REDIS_MIN_REPLICAS": "9"}, "must be 0 to 5"),
        ({"WG_APP_ID": "a{b}"}, "WG_APP_ID must be non-empty and without braces"),
    ],
)
def test_bad_redis_topology_settings_are_refused_naming_the_problem(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError, match="WG_") as caught:
        Settings.from_env(env)
    assert message in str(caught.value)


def test_the_client_refuses_a_sentinel_mode_without_sentinels() -> None:
    with pytest.raises(TopologyError, match="at least one sentinel"):
        Topology.of("sentinel", "redis://x/0", [], "wg-registry")


def test_sentinels_get_tls_and_timeouts_but_not_the_data_nodes_password() -> None:
    top = Topology.of("sentinel", "rediss://ignored:1/2", ["s:26379"], "m")
    master, node = _sentinel_options(
        top, {"password": "pw", "username": "u", "socket_timeout": 0.5, "ssl_ca_certs": "/ca"}
    )
    assert master == {
        "password": "pw", "username": "u", "socket_timeout": 0.5, "ssl_ca_certs": "/ca",
        "ssl": True, "db": 2,
    }  # fmt: skip
    assert node == {"socket_timeout": 0.5, "ssl_ca_certs": "/ca", "ssl": True}


def test_every_key_of_a_deployment_shares_one_cluster_hash_tag() -> None:
    keys = RegistryKeys(registry_prefix("wg-prod"))
    names = [
        keys.withdrawal("W-1"), keys.open_holds, keys.open_holds_of("C-1"), keys.alerts,
        keys.alert("A-1"), keys.synced, f"{notify_prefix('wg-prod')}:dedup:x:y",
    ]  # fmt: skip
    assert {name[name.index("{") : name.index("}") + 1] for name in names} == {"{wg-prod}"}
    with pytest.raises(ValueError, match="without braces"):
        registry_prefix("a}b")
