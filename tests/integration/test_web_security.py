"""The worker's web server against hostile requests and across roles, on a real worker.

Random paths, methods, headers, cookies, content types and bodies (hypothesis) never get
a 5xx, and every 4xx says why. Oversized bodies get 413. Console sessions expire and die
at sign-out; a viewer's pages and API answers carry no action forms or action URLs, and
a viewer's POST of an action is refused with 403. Every response carries the security
headers (Content-Security-Policy first).
"""

from __future__ import annotations

import http.client
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.browser.test_console import PASSWORDS, console_settings
from tests.hostile import FUZZ, ODD_TEXT
from tests.integration.harness import Bus, Worker, collecting_bus, unique
from tests.integration.test_detector import attacker
from withdrawguard.contract import topics as t
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s
from withdrawguard.web.console.sessions import COOKIE, Signer

pytestmark = pytest.mark.integration
__all__ = ["console_settings"]
TOKEN = "tok-fuzz-payments"


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes


@dataclass
class Site:
    settings: Settings
    held_customer: str
    held_withdrawal: str

    def call(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        conn = http.client.HTTPConnection("127.0.0.1", self.settings.web_port, timeout=30)
        try:
            conn.request(method, path, body=body or None, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.headers, r.read())
        finally:
            conn.close()

    def sign_in(self, user: str) -> str:
        form = urlencode({"user": user, "password": PASSWORDS[user]}).encode()
        r = self.call("POST", "/login", form, FORM)
        assert r.status == 303, r.body
        cookie = r.headers["Set-Cookie"].split(";")[0]
        assert cookie.startswith(COOKIE + "=")
        return cookie

    def signer(self) -> Signer:
        assert self.settings.session_secret_file is not None
        secret = self.settings.session_secret_file.read_bytes().strip()
        return Signer(secret, self.settings.session_hours)


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def site(console_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("web-security")
    (d / "tokens").write_text(TOKEN + "\n")
    settings = replace(console_settings, service_tokens_file=d / "tokens")
    worker = Worker(settings, d / "worker.log")
    worker.start()
    try:
        with collecting_bus(settings, [t.WITHDRAWAL_HOLDS]) as bus:
            cid, wid = hold_one(bus)
            yield Site(settings, cid, wid)
    finally:
        worker.stop()
        assert_no_crash_in(d / "worker.log")


def assert_no_crash_in(log: Path) -> None:
    """No traceback in the log passes through withdrawguard's code (aiohttp logs the
    requests its own parser refuses with a traceback of its own frames only)."""
    text = log.read_text(errors="replace")
    for chunk in text.split("Traceback (most recent call last):")[1:]:
        frames = chunk.split("\n[20")[0]
        assert "withdrawguard" not in frames, frames


def hold_one(bus: Bus) -> tuple[str, str]:
    cid = unique("victim")
    ip, dest = attacker()
    chain = s.sbi_chain(cid, datetime.now(UTC) - timedelta(hours=1), dest, attacker_ip=ip)
    bus.send(chain[:-1])
    bus.wait_idle(timeout=90)
    bus.send(chain[-1:])
    wid = f"{cid}-wd-attack"
    bus.wait_for("the hold", lambda: bus.values(t.WITHDRAWAL_HOLDS, withdrawal_id=wid), 90)
    return cid, wid


# ---------------------------------------------------------------- hostile requests

# Path segments up to 3000 characters (longer request lines: test_a_too_long_url_...).
SHORT_ODD = [x for x in ODD_TEXT if len(quote(x, safe="")) <= 3000]
segments = st.one_of(st.text(max_size=40), st.sampled_from(SHORT_ODD)).map(
    lambda x: quote(x, safe="")
) | st.sampled_from(["%ff%fe", "%00", "%ED%A0%80", "..%2f..%2f", "a" * 3000])
PATHS = [
    "/health", "/ready", "/metrics", "/login", "/logout", "/console", "/console/api/overview",
    "/console/api/withdrawals?ids={}", "/customers/{}", "/customers/{}/actions",
    "/api/withdrawals/{}/decision", "/table/customers", "/{}",
]  # fmt: skip
# Header text a client may send (aiohttp's parser refuses control characters with a 400
# before any handler runs: test_a_malformed_request_is_refused_by_the_http_parser).
latin1 = st.text(st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=80)
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/json", "text/plain",
    "multipart/form-data; boundary=xyz", "multipart/form-data", "application/octet-stream",
]  # fmt: skip
form_values = st.one_of(st.text(max_size=60), st.sampled_from(ODD_TEXT))
forms = st.dictionaries(
    st.sampled_from(["action", "note", "withdrawal_id", "change_event_id", "csrf", "back"])
    | st.sampled_from(["user", "password"]),
    form_values,
    max_size=6,
).map(lambda f: urlencode(f).encode())


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
    template=st.sampled_from(PATHS),
    segment=segments,
    who=st.sampled_from(["anonymous", "ana", "vic", "garbage"]),
    garbage=latin1,
    authorization=st.none() | st.just("Bearer " + TOKEN) | latin1,
    content_type=st.none() | st.sampled_from(CONTENT_TYPES) | latin1,
    body=st.binary(max_size=300) | forms,
)
@example(
    method="POST", template="/login", segment="", who="garbage", garbage="é.é",
    authorization=None, content_type="multipart/form-data", body=b"--x\r\n",
)  # fmt: skip
@example(
    method="GET", template="/console", segment="", who="garbage", garbage="\xe9\xe9.\xff",
    authorization=None, content_type=None, body=b"",
)  # fmt: skip
@example(
    method="GET", template="/api/withdrawals/{}/decision", segment="x", who="anonymous",
    garbage="", authorization="Bearer \xe9\xff", content_type=None, body=b"",
)  # fmt: skip
def test_no_request_gets_a_server_error_and_every_refusal_says_why(
    site: Site,
    sessions: dict[str, str],
    method: str,
    template: str,
    segment: str,
    who: str,
    garbage: str,
    authorization: str | None,
    content_type: str | None,
    body: bytes,
) -> None:
    headers = {}
    if who in sessions:
        headers["Cookie"] = sessions[who]
    elif who == "garbage":
        headers["Cookie"] = f"{COOKIE}={garbage}"
    if authorization is not None:
        headers["Authorization"] = authorization
    if content_type is not None:
        headers["Content-Type"] = content_type
    r = site.call(method, template.replace("{}", segment), body, headers)
    assert r.status < 500, (r.status, r.body[:300])
    assert r.headers["Content-Security-Policy"].startswith("default-src 'none'")
    if 400 <= r.status < 500 and method != "HEAD":
        assert r.body.strip(), f"a {r.status} without a reason"


@pytest.fixture(scope="module")
def sessions(site: Site) -> dict[str, str]:
    return {"ana": site.sign_in("ana"), "vic": site.sign_in("vic")}


def test_a_malformed_request_is_refused_by_the_http_parser(site: Site) -> None:
    with socket.create_connection(("127.0.0.1", site.settings.web_port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Type: \x7f\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.split(b" ")[1] == b"400" and b"Invalid header value" in answer


def test_a_too_long_url_is_refused_by_the_http_parser(site: Site) -> None:
    r = site.call("GET", "/customers/" + "x" * 20_000)
    assert 400 <= r.status < 500 and b"Got more than 8190 bytes" in r.body


@pytest.mark.parametrize("path", ["/login", "/customers/x/actions", "/logout"])
def test_an_oversized_body_is_refused_with_413(
    site: Site, sessions: dict[str, str], path: str
) -> None:
    body = b"note=" + b"x" * (3 << 20)
    r = site.call("POST", path, body, FORM | {"Cookie": sessions["ana"]})
    assert r.status == 413
    assert b"request body size" in r.body


# ---------------------------------------------------------------- sessions and roles


def test_an_expired_session_is_refused_and_a_fresh_one_of_the_same_secret_works(
    site: Site,
) -> None:
    signer = site.signer()
    _, fresh = signer.issue("ana", "analyst", time.time())
    _, stale = signer.issue("ana", "analyst", time.time() - signer.hours * 3600 - 1)
    assert site.call("GET", "/console", headers={"Cookie": f"{COOKIE}={fresh}"}).status == 200
    page = site.call("GET", "/console", headers={"Cookie": f"{COOKIE}={stale}"})
    assert (page.status, page.headers["Location"]) == (303, "/login")
    api = site.call("GET", "/console/api/overview", headers={"Cookie": f"{COOKIE}={stale}"})
    assert api.status == 401 and b"not signed in" in api.body


def test_after_sign_out_the_session_is_no_longer_valid(site: Site) -> None:
    cookie = site.sign_in("ana")
    page = site.call("GET", "/console", headers={"Cookie": cookie})
    assert page.status == 200
    csrf = page.body.split(b'data-csrf="')[1].split(b'"')[0].decode()
    refused = site.call("POST", "/logout", b"csrf=wrong", FORM | {"Cookie": cookie})
    assert refused.status == 403
    signed = FORM | {"Cookie": cookie}
    out = site.call("POST", "/logout", urlencode({"csrf": csrf}).encode(), signed)
    assert (out.status, out.headers["Location"]) == (303, "/login")
    assert site.call("GET", "/console", headers={"Cookie": cookie}).status == 303
    api = site.call("GET", "/console/api/overview", headers={"Cookie": cookie})
    assert api.status == 401


ACTION_MARKS = [b"/actions", b'"release"', b"confirm_fraud", b"verify_destination", b'class="act"']


def test_a_viewer_is_shown_no_action_and_its_posted_action_is_refused(
    site: Site, sessions: dict[str, str]
) -> None:
    customer = f"/customers/{quote(site.held_customer, safe='')}"
    pages = [
        "/console",
        "/console/api/overview",
        customer,
        f"/console/api/withdrawals?ids={site.held_withdrawal}",
    ]
    for path in pages:
        ana = site.call("GET", path, headers={"Cookie": sessions["ana"]})
        vic = site.call("GET", path, headers={"Cookie": sessions["vic"]})
        assert ana.status == vic.status == 200, path
        assert site.held_withdrawal.encode() in vic.body or path == "/console", path
        for mark in ACTION_MARKS:
            assert mark not in vic.body, (path, mark)
    analyst_page = site.call("GET", customer, headers={"Cookie": sessions["ana"]}).body
    assert all(m in analyst_page for m in (b"/actions", b"confirm_fraud", b'class="act"'))
    # the chain's 9,500,000 JPY hold is released only through its case, by two people
    assert b'"release"' not in analyst_page and b"/cases/of/" in analyst_page

    viewer_page = site.call("GET", "/console", headers={"Cookie": sessions["vic"]}).body
    csrf = viewer_page.split(b'data-csrf="')[1].split(b'"')[0].decode()
    form = {"action": "release", "withdrawal_id": site.held_withdrawal, "note": "n", "csrf": csrf}
    posted = site.call(
        "POST", customer + "/actions", urlencode(form).encode(), FORM | {"Cookie": sessions["vic"]}
    )
    refusal = b"the viewer role cannot do this (it needs analyst)"
    assert posted.status == 403 and refusal in posted.body
    state = site.call(
        "GET",
        f"/console/api/withdrawals?ids={site.held_withdrawal}",
        headers={"Cookie": sessions["vic"]},
    )
    assert b'"hold_status":"held"' in state.body


@pytest.mark.parametrize("path", ["/login", "/console", "/health", "/metrics", "/nowhere"])
def test_every_response_carries_the_security_headers(site: Site, path: str) -> None:
    r = site.call("GET", path)
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Referrer-Policy"] == "no-referrer"


async def test_failed_sign_ins_are_counted_across_workers_in_redis(
    services: tuple[str, str],
) -> None:
    # Two workers' limiters, each with its own connection to the deployment's Redis: the
    # failures one sees count on the other, so two workers do not double the tries.
    from redis.asyncio import Redis

    from withdrawguard.web.console.ratelimit import RedisFailures, SignInLimiter

    prefix = f"wg:{{signin-{uuid.uuid4().hex[:8]}}}:"
    first, second = Redis.from_url(services[1]), Redis.from_url(services[1])
    try:
        a = SignInLimiter(RedisFailures(first, prefix))
        b = SignInLimiter(RedisFailures(second, prefix))
        now = time.time()
        for i in range(3):
            await a.failed("ana", f"10.0.0.{i}", now)
        for i in range(2):
            assert await b.blocked("ana", "10.0.1.1", now) is None
            await b.failed("ana", f"10.0.1.{i}", now)
        assert await a.blocked("ana", "10.0.2.1", now) == "too many failed sign-ins for this user"
        assert await b.blocked("ana", "10.0.2.1", now) == "too many failed sign-ins for this user"
        ttl = await first.ttl(f"{prefix}signin:user:ana")
        assert 0 < ttl <= 901  # the set expires with its window
        await a.succeeded("ana")  # a right password clears the user's count everywhere
        assert await b.blocked("ana", "10.0.2.1", now) is None
        for i in range(5):
            await b.failed("bob", f"10.0.3.{i}", now)
        assert await a.blocked("bob", "10.0.4.1", now + 899) is not None
        assert await a.blocked("bob", "10.0.4.1", now + 901) is None  # the window passed
    finally:
        await first.delete(*[k async for k in first.scan_iter(f"{prefix}*")])
        await first.aclose()
        await second.aclose()
