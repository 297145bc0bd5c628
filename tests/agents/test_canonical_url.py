"""WG_CANONICAL_URL: the URL a worker advertises to the group, where the other workers
forward the console's requests for the customers it owns."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest

from withdrawguard.engine.decide import Engine
from withdrawguard.engine.policy import load_policy
from withdrawguard.settings import Settings, SettingsError
from withdrawguard.worker.app import create_app


def test_unset_it_is_the_web_host_and_port() -> None:
    assert Settings.from_env({}).advertised_url == "http://127.0.0.1:6066"
    s = Settings.from_env({"WG_WEB_HOST": "10.1.2.3", "WG_WEB_PORT": "7000"})
    assert s.advertised_url == "http://10.1.2.3:7000"
    assert Settings(web_host="fd00::5").advertised_url == "http://[fd00::5]:6066"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "::"])
def test_unset_with_a_wildcard_web_host_it_names_the_machine_not_the_wildcard(
    wildcard: str,
) -> None:
    s = Settings.from_env({"WG_WEB_HOST": wildcard})
    assert s.advertised_url == f"http://{socket.gethostname()}:6066"


def test_set_it_is_advertised_as_given() -> None:
    url = "http://withdrawguard-1.withdrawguard-workers.prod.svc:6066"
    s = Settings.from_env({"WG_CANONICAL_URL": url, "WG_WEB_HOST": "0.0.0.0"})
    assert s.advertised_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("withdrawguard-1:6066", "an http"),
        ("ftp://withdrawguard-1:6066", "an http"),
        ("http://:6066", "an http"),
        ("http://0.0.0.0:6066", "wildcard"),
        ("http://[::]:6066", "wildcard"),
        ("http://withdrawguard-1:6066/console", "no path"),
        ("http://withdrawguard-1:6066?x=1", "no path"),
        ("http://withdrawguard-1:0", "port"),
        ("http://withdrawguard-1:70000", "out of range"),
    ],
)
def test_a_url_others_cannot_reach_is_refused_naming_the_variable(url: str, problem: str) -> None:
    with pytest.raises(
        SettingsError, match=f"WG_CANONICAL_URL: .*{problem}.*{re.escape(repr(url))}"
    ):
        Settings.from_env({"WG_CANONICAL_URL": url})


def test_the_app_advertises_it_to_the_group(tmp_path: Path) -> None:
    url = "http://worker-b.internal:7001"
    settings = Settings(
        store="memory", data_dir=tmp_path, app_id="wg-agents-canonical", canonical_url=url
    )
    app = create_app(settings, Engine(load_policy())).app
    assert str(app.conf.canonical_url) == url
    assert str(app.assignor._url) == url  # noqa: SLF001 - Faust's assignor keeps the advertised URL only privately
