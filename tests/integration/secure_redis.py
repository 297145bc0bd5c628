"""A redis-server started by the tests with a password and only a TLS port.

Debian's redis-server is built with TLS. It listens on 127.0.0.1 on a free port for TLS
only (`--port 0`), asks clients for a certificate signed by the session CA
(`--tls-auth-clients yes`) and for the password (`--requirepass`).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.harness import _free_port
from tests.integration.tls import Pki, make_pki


@dataclass
class SecureRedis:
    url: str
    pki: Pki
    password_file: Path

    def settings(self) -> dict[str, Any]:
        """The withdrawguard settings that reach this server (TLS, client cert, password)."""
        return {
            "redis_url": self.url,
            "redis_password_file": self.password_file,
            "redis_tls_cafile": self.pki.ca,
            "redis_tls_certfile": self.pki.client_cert,
            "redis_tls_keyfile": self.pki.client_key,
        }


@pytest.fixture(scope="session")
def secure_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is missing: apt-get install redis-server", pytrace=False)
    base = tmp_path_factory.mktemp("tls-redis")
    pki = make_pki(base / "pki")
    password = "redis-" + uuid.uuid4().hex
    (base / "redis.password").write_text(password + "\n")
    port = _free_port()
    args = [
        binary, "--bind", "127.0.0.1", "--port", "0", "--tls-port", str(port),
        "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
        "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "yes",
        "--requirepass", password, "--save", "", "--appendonly", "no", "--dir", str(base),
    ]  # fmt: skip
    with (base / "redis.log").open("ab") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"rediss://127.0.0.1:{port}/0"
    probe = redis.Redis.from_url(
        url,
        password=password,
        ssl_ca_certs=str(pki.ca),
        ssl_certfile=str(pki.client_cert),
        ssl_keyfile=str(pki.client_key),
        socket_connect_timeout=2,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                probe.ping()
                break
            except (redis.RedisError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"TLS redis-server did not start; read {base}/redis.log")
                time.sleep(0.2)
        yield SecureRedis(url, pki, base / "redis.password")
    finally:
        probe.close()
        proc.terminate()
        proc.wait(timeout=30)
