"""Talking to test workers over HTTP: their base URL, a GET that never raises, waiting
for a condition, and console users made the way an operator makes them."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.integration.harness import env_of
from withdrawguard.settings import Settings


def base(settings: Settings) -> str:
    return f"http://127.0.0.1:{settings.web_port}"


def get(url: str, token: str = "") -> tuple[int, bytes]:
    """(status, body); (0, b"") when nothing answers. `token`: a service token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - http://127.0.0.1 only
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - as above
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def wait(what: str, check: Callable[[], Any], timeout: float = 45) -> Any:
    """`check()`'s first truthy result, polled; fails the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.3)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


def add_users(settings: Settings, users: Mapping[str, tuple[str, str]]) -> None:
    """`withdrawguard users add` for each name -> (role, password)."""
    for name, (role, password) in users.items():
        command = ["users", "add", name, "--role", role, "--password-stdin"]
        subprocess.run(
            [sys.executable, "-m", "withdrawguard", *command],
            input=password.encode(),
            env=env_of(settings),
            check=True,
            capture_output=True,
        )
