"""`streaming/faust_internals` installs itself only on the Faust and aiokafka releases it
was read against, and only for the app that asks: Faust's own classes stay Faust's."""

from __future__ import annotations

import pytest
from faust.tables import TableManager as FaustTableManager
from faust.transport import by_url

from withdrawguard.streaming import faust_internals
from withdrawguard.streaming.faust_internals import recovery, transport


def test_the_installed_faust_and_aiokafka_are_the_releases_it_was_written_for() -> None:
    faust_internals.check_versions()  # the locked versions: nothing raised


@pytest.mark.parametrize(
    ("installed", "named"),
    [
        ({"faust-streaming": "0.16.0", "aiokafka": "0.14.0"}, "faust-streaming 0.16.0"),
        ({"faust-streaming": "0.15.3", "aiokafka": "0.13.0"}, "aiokafka 0.13.0"),
        ({"faust-streaming": None, "aiokafka": "0.14.0"}, "faust-streaming not installed"),
    ],
)
def test_another_release_is_refused_naming_the_package_and_version(
    installed: dict[str, str | None], named: str
) -> None:
    with pytest.raises(faust_internals.UnsupportedFaust, match=named) as refused:
        faust_internals.check_versions(installed)
    assert "requirements.lock" in str(refused.value)


def test_the_app_options_name_our_store_transport_and_table_manager() -> None:
    options = faust_internals.app_options("kafka://a:9092;kafka://b:9093", memory_store=False)
    assert options["store"] == "wgrocksdb://"
    assert options["broker_consumer"] == ["wgkafka://a:9092", "wgkafka://b:9093"]
    assert options["broker_producer"] == options["broker_consumer"]
    assert options["TableManager"] is recovery.TableManager
    assert faust_internals.app_options("kafka://a:9092", memory_store=True)["store"] == "memory://"


def test_faust_finds_the_transport_by_its_scheme_through_the_entry_point() -> None:
    assert by_url("wgkafka://127.0.0.1:9092") is transport.Transport
    assert by_url("kafka://127.0.0.1:9092") is not transport.Transport  # Faust's own, untouched
    assert transport.Transport.Consumer is transport.Consumer
    assert transport.Transport.Producer is transport.Producer
    assert issubclass(recovery.TableManager, FaustTableManager)
