"""The console's inbox page and take-next over HTTP with many open cases, on the real
Kafka and Redis and a real worker: opens N cases through the case service (each written
to case-events and acknowledged), starts `withdrawguard worker` with a users file, signs
in over HTTP, then times GET /cases?inbox=general (the page: the inbox's 200 due first,
rendered with Jinja2) and POST /cases/next (one claim each: lock, fold, write,
acknowledge, apply, then the 303), one request at a time.

    WG_KAFKA_BOOTSTRAP=... WG_REDIS_URL=... .venv/bin/python bench/cases_inbox_page.py \
        [--cases N] [--requests N]

Uses a deployment of its own (topics and Redis keys under a fresh app id, a temporary
data dir); delete its topics afterwards if the broker is shared. Prints the figures with
the machine's load average, and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

from withdrawguard.adapters.case_store import RedisCaseStore, case_prefix
from withdrawguard.adapters.kafka_io import kafka_produce
from withdrawguard.adapters.redis_connection import async_redis
from withdrawguard.adapters.topic_admin import create_topics
from withdrawguard.cases.events import Trigger
from withdrawguard.casework.config import load_case_config
from withdrawguard.casework.service import CaseService, CaseTopics
from withdrawguard.contract import topics as t
from withdrawguard.secret import Secret
from withdrawguard.settings import Settings, setting_fields

PASSWORD = uuid.uuid4().hex  # a throwaway user's, for this run only
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _news(n: int) -> Trigger:
    return Trigger(
        kind="hold",
        ref_id=f"hold-w{n}",
        severity="high",
        reason_codes=("DRAIN",),
        withdrawal_id=f"w{n}",
        amount=Decimal(50_000 + n),
        currency="JPY",
        hold_status="held",
    )


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WG_")}
    for f in setting_fields(Settings):
        value = getattr(settings, f.name)
        if value is not None:
            shown = value.reveal() if isinstance(value, Secret) else str(value)
            env[f"WG_{f.name.upper()}"] = shown
    return env


async def open_cases(settings: Settings, cases: int) -> float:
    """Open `cases` cases in the general inbox; the seconds it took."""
    names = t.TopicNames(settings)
    topics = CaseTopics(names.name(t.CASE_EVENTS), names.name(t.CASE_DECISIONS))
    redis = async_redis(settings)
    try:
        async with kafka_produce(settings) as produce:
            store = RedisCaseStore(redis, case_prefix(settings.app_id))
            service = CaseService(
                store, produce, topics, load_case_config(None), clock=lambda: datetime.now(UTC)
            )
            began = time.perf_counter()
            for start in range(0, cases, 32):
                batch = range(start, min(cases, start + 32))
                await asyncio.gather(*(service.intake(f"c{n}", _news(n)) for n in batch))
            return time.perf_counter() - began
    finally:
        await redis.aclose()  # type: ignore[attr-defined]


async def clear(settings: Settings) -> None:
    redis = async_redis(settings)
    try:
        await RedisCaseStore(redis, case_prefix(settings.app_id)).clear()
    finally:
        await redis.aclose()  # type: ignore[attr-defined]


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.cookie = ""
        self.csrf = ""

    def call(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes, str]:
        headers = FORM | ({"Cookie": self.cookie} if self.cookie else {})
        self.conn.request(method, path, body=body or None, headers=headers)
        r = self.conn.getresponse()
        return r.status, r.read(), r.headers.get("Set-Cookie", "") or r.headers.get("Location", "")

    def sign_in(self, user: str) -> None:
        status, _, cookie = self.call(
            "POST", "/login", urlencode({"user": user, "password": PASSWORD}).encode()
        )
        assert status == 303, status
        self.cookie = cookie.split(";")[0]
        _, page, _ = self.call("GET", "/cases?inbox=general")
        self.csrf = page.split(b'data-csrf="')[1].split(b'"')[0].decode()


def _ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the worker exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/ready")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("the worker was not ready in time")


def run(cases: int, requests: int) -> dict[str, float | int | str]:
    run_id = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory(prefix="wg-bench-inbox-") as tmp:
        d = Path(tmp)
        (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
        settings = replace(
            Settings.from_env(),
            app_id=f"wg-bench-inbox-{run_id}",
            topic_prefix=f"bench-inbox-{run_id}.",
            data_dir=d / "data",
            web_port=_free_port(),
            users_file=d / "users.json",
            session_secret_file=d / "session.secret",
        )
        create_topics(settings, log=lambda _line: None)
        for name in (f"analyst-{k}" for k in range(2)):
            subprocess.run(
                [sys.executable, "-m", "withdrawguard", "users", "add", name, "--role",
                 "analyst", "--password-stdin"],
                input=PASSWORD.encode(), env=_env(settings), check=True, capture_output=True,
            )  # fmt: skip
        opened = asyncio.run(open_cases(settings, cases))
        with (d / "worker.log").open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "withdrawguard", "worker"],
                env=_env(settings),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _ready(settings.web_port, proc)
            time.sleep(5)  # let the worker's sinks catch up with the case events first
            reader, taker = Client(settings.web_port), Client(settings.web_port)
            reader.sign_in("analyst-0")
            taker.sign_in("analyst-1")
            pages, takes = [], []
            for _ in range(requests):
                t0 = time.perf_counter()
                status, body, _ = reader.call("GET", "/cases?inbox=general")
                pages.append(time.perf_counter() - t0)
                assert status == 200 and body.count(b'<tr id="row-') == 200, status
                t0 = time.perf_counter()
                form = urlencode({"inbox": "general", "csrf": taker.csrf}).encode()
                status, _, where = taker.call("POST", "/cases/next", form)
                takes.append(time.perf_counter() - t0)
                assert status == 303 and "done=claimed" in where, (status, where)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            asyncio.run(clear(settings))
    load = os.getloadavg()
    return {
        "open_cases": cases,
        "opened_per_second": round(cases / opened),
        "inbox_page_p50_ms": round(_p(pages, 50), 1),
        "inbox_page_p95_ms": round(_p(pages, 95), 1),
        "take_next_p50_ms": round(_p(takes, 50), 1),
        "take_next_p95_ms": round(_p(takes, 95), 1),
        "requests": requests,
        "load_average": " ".join(f"{x:.2f}" for x in load),
        "cpus": os.cpu_count() or 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    figures = run(args.cases, args.requests)
    for key, value in figures.items():
        print(f"{key:>20}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
