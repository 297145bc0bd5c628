"""Settings come from WG_ variables only, with errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from withdrawguard.contract.topics import TopicNames
from withdrawguard.settings import Settings, SettingsError


def test_defaults_apply_when_nothing_is_set() -> None:
    s = Settings.from_env({})
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.partitions == 6
    assert s.web_port == 6066


def test_wg_variables_are_read_and_converted() -> None:
    s = Settings.from_env(
        {
            "WG_KAFKA_BOOTSTRAP": "a:9092, b:9092",
            "WG_PARTITIONS": "12",
            "WG_DATA_DIR": "/var/lib/wg",
            "WG_POLICY_FILE": "/etc/wg/policy.toml",
        }
    )
    assert s.bootstrap_servers == ["a:9092", "b:9092"]
    assert s.broker_url == "kafka://a:9092;kafka://b:9092"
    assert s.partitions == 12
    assert s.data_dir == Path("/var/lib/wg")
    assert s.policy_file == Path("/etc/wg/policy.toml")


def test_unprefixed_variables_that_faust_reads_are_ignored() -> None:
    assert Settings.from_env({"BROKER_URL": "kafka://elsewhere:1"}).kafka_bootstrap == (
        "127.0.0.1:9092"
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"WG_PARTITIONS": "six"}, "WG_PARTITIONS must be an integer"),
        ({"WG_PARTITIONS": "0"}, "WG_PARTITIONS must be at least 1"),
        ({"WG_TABLE_MEMORY_MB": "8"}, "WG_TABLE_MEMORY_MB must be at least 16, got 8"),
        ({"WG_TABLE_MEMORY_MB": "lots"}, "WG_TABLE_MEMORY_MB must be an integer"),
        ({"WG_STORE": "redis"}, "WG_STORE must be 'rocksdb' or 'memory'"),
        ({"WG_GC": "off"}, "WG_GC must be 'freeze' or 'python', got 'off'"),
        ({"WG_TABLE_STANDBY_REPLICAS": "-1"}, "WG_TABLE_STANDBY_REPLICAS must be between 0"),
        ({"WG_TABLE_STANDBY_REPLICAS": "4"}, "WG_TABLE_STANDBY_REPLICAS must be between 0"),
        ({"WG_TABLE_STANDBY_REPLICAS": "one"}, "WG_TABLE_STANDBY_REPLICAS must be an integer"),
        ({"WG_WEB_PORT": "70000"}, "WG_WEB_PORT must be a TCP port"),
        ({"WG_MAX_MESSAGE_BYTES": "10"}, "WG_MAX_MESSAGE_BYTES must be at least 1024"),
        ({"WG_KAFKA_SESSION_TIMEOUT": "2"}, "WG_KAFKA_SESSION_TIMEOUT must be between 6"),
        ({"WG_KAFKA_HEARTBEAT_INTERVAL": "4"}, "WG_KAFKA_HEARTBEAT_INTERVAL must be at least 1"),
        ({"WG_KAFKA_HEARTBEAT_INTERVAL": "0"}, "WG_KAFKA_HEARTBEAT_INTERVAL must be at least 1"),
        ({"WG_STALL_SECONDS": "5"}, "WG_STALL_SECONDS must be between 10 and 3600, got 5"),
        ({"WG_STALL_SECONDS": "soon"}, "WG_STALL_SECONDS must be an integer"),
    ],
)
def test_bad_values_raise_an_error_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_topic_prefix_applies_to_every_topic_and_internal_topics_carry_the_app_id() -> None:
    names = TopicNames(Settings(topic_prefix="staging.", app_id="wg"))
    assert names.name("withdrawals") == "staging.withdrawals"
    assert names.name("customer-events") == "staging.wg-customer-events"
    assert all(n.startswith("staging.") for n, _ in names.all())
