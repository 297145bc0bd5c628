"""The console's policy page against a real worker, Kafka and Redis (issue 17).

One worker of a deployment of its own, with an admin, an analyst and a viewer. Over
plain HTTP: the viewer and the analyst may look but every action is refused with 403
and writes nothing; a policy with an unknown key, or that is not TOML, is refused with
400 naming the problem, the note and the text given back. In a real Chromium a refused
publish shows the page again with the error and what was typed; then the admin
publishes a shadow version that holds everything (`hold_score = 0`), and the page shows
the publish first in the trail with its note, a rollback choice naming the version, who
published it and why, and the version's text; honest withdrawals then go through, and
the page shows the live and shadow versions, the would_hold count the shadow-decisions
topic gives, and each differing withdrawal with both verdicts. Then the admin promotes,
publishes, rolls back and stops a shadow over HTTP; the page shows what the shadow
changes; the policies topic (read back as the CLI reads it), the audit trail and the
page's trail (latest first) show each change with the admin as actor. The deployment's
topics are deleted when every test passed (tests/broker_cleanup.py).
"""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from tests.integration.harness import (
    ROOT,
    Bus,
    Worker,
    collecting_bus,
    isolated_settings,
    unique,
)
from tests.integration.web_client import add_users, base
from withdrawguard.adapters.kafka_security import kafka_python_options
from withdrawguard.contract import topics as t
from withdrawguard.engine.policy import fingerprint, load_policy, parse_policy
from withdrawguard.policy.log import read_catalog
from withdrawguard.settings import Settings
from withdrawguard.sim import scenarios as s

pytestmark = pytest.mark.integration

PASSWORDS = {"root": "admin-pass-1", "ana": "analyst-pass-3", "vic": "viewer-pass-3"}
ROLES = {"root": "admin", "ana": "analyst", "vic": "viewer"}
HOLD_ALL = "[decision]\nhold_score = 0\n"
STRICTER = "[decision]\nhold_score = 50\n"


@pytest.fixture(scope="module")
def deployment(services: tuple[str, str], tmp_path_factory: pytest.TempPathFactory) -> Settings:
    d = tmp_path_factory.mktemp("policy-console")
    (d / "session.secret").write_text(uuid.uuid4().hex + uuid.uuid4().hex)
    settings = isolated_settings(
        services,
        "polcon",
        d / "worker",
        users_file=d / "users.json",
        session_secret_file=d / "session.secret",
    )
    add_users(settings, {name: (role, PASSWORDS[name]) for name, role in ROLES.items()})
    return settings


@pytest.fixture(scope="module")
def bus(deployment: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    worker = Worker(deployment, tmp_path_factory.mktemp("policy-console-logs") / "worker.log")
    worker.start()
    try:
        with collecting_bus(deployment, (t.WITHDRAWAL_DECISIONS, t.SHADOW_DECISIONS)) as b:
            yield b
    finally:
        worker.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


class Client:
    """A signed-in user over plain HTTP (cookies kept, redirects not followed)."""

    def __init__(self, settings: Settings, user: str) -> None:
        self.url = base(settings)
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(jar), _NoRedirect
        )
        status, _ = self.call("/login", {"user": user, "password": PASSWORDS[user]})
        assert status == 303, f"{user} cannot sign in"
        status, page = self.call("/policy")
        assert status == 200
        found = re.search(r'data-csrf="([^"]+)"', page)
        assert found is not None
        self.csrf = found.group(1)

    def call(
        self, path: str, form: dict[str, str] | None = None, accept: str = "text/html"
    ) -> tuple[int, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Accept": accept}
        req = urllib.request.Request(self.url + path, data, headers)  # noqa: S310 - 127.0.0.1 only
        try:
            with self.opener.open(req, timeout=20) as resp:
                return int(resp.status), resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def act(self, action: str, **fields: str) -> tuple[int, str]:
        form = {"csrf": self.csrf, "action": action, "note": f"{action} by test", **fields}
        return self.call("/policy/actions", form)


def audit(settings: Settings) -> list[dict[str, Any]]:
    """Every record of the policy-audit topic."""
    name = t.TopicNames(settings).name(t.POLICY_AUDIT)
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
        **kafka_python_options(settings),
    )
    try:
        tp = TopicPartition(name, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        end = consumer.end_offsets([tp])[tp]
        found = []
        for record in consumer:
            found.append(orjson.loads(record.value))
            if record.offset + 1 >= end:
                break
        return found
    finally:
        consumer.close()


def test_viewers_and_analysts_see_the_page_but_no_action_and_each_is_refused(
    bus: Bus, deployment: Settings
) -> None:
    for user in ("vic", "ana"):
        client = Client(deployment, user)
        _, page = client.call("/policy")
        assert '<form class="policy-act"' not in page  # no forms shown
        assert 'id="run-live"' in page
        for action, fields in (
            ("publish", {"text": HOLD_ALL, "role": "shadow"}),
            ("promote", {}),
            ("rollback", {"version": fingerprint(parse_policy(HOLD_ALL, "x"))}),
            ("shadow-off", {}),
        ):
            status, body = client.act(action, **fields)
            assert status == 403, (user, action, body)
            assert "needs admin" in body
    assert read_catalog(deployment, warn=pytest.fail).versions == {}
    assert audit(deployment) == []


def test_a_refused_action_answers_its_status_with_the_page_naming_the_problem(
    bus: Bus, deployment: Settings
) -> None:
    admin = Client(deployment, "root")
    status, body = admin.act("publish", text="[decision]\nhold_scor = 1\n", role="shadow")
    assert status == 400
    assert "unknown policy key &#x27;decision.hold_scor&#x27;" in body  # escaped quotes
    assert "hold_scor = 1" in body  # the text is given back to correct
    assert 'value="publish by test"' in body  # and the note
    status, body = admin.act("publish", text="[decision\n", role="live")
    assert status == 400
    assert "not valid TOML" in body
    status, body = admin.act("promote")
    assert status == 400
    assert "nothing to promote" in body
    long_note = {"csrf": admin.csrf, "action": "publish", "text": HOLD_ALL, "role": "live"}
    status, body = admin.call("/policy/actions", {**long_note, "note": "x" * 2049})
    assert (status, "longer than 2048" in body) == (400, True)
    no_token = {"action": "publish", "text": HOLD_ALL, "role": "live", "note": "no token"}
    status, body = admin.call("/policy/actions", no_token)
    assert status == 403
    assert "missing or wrong CSRF token" in body  # the page, with the reason
    assert 'value="no token"' in body and "hold_score = 0" in body  # and what was typed
    status, body = admin.call("/policy/actions", no_token, "application/json")
    assert (status, orjson.loads(body)) == (403, {"error": "missing or wrong CSRF token"})
    assert read_catalog(deployment, warn=pytest.fail).versions == {}


def reload_until(page: Any, what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.reload()
        if check():
            return
        time.sleep(0.5)
    shown = page.inner_text("main")
    pytest.fail(f"timed out after {timeout}s waiting for the page to show {what}:\n{shown}")


def test_the_browser_shows_live_against_shadow_with_the_withdrawals_that_differ(
    bus: Bus, deployment: Settings, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(
        "**/*",
        lambda r: r.continue_() if r.request.url.startswith(base(deployment)) else r.abort(),
    )
    page = context.new_page()
    page.goto(base(deployment) + "/login")
    page.fill("input[name=user]", "root")
    page.fill("input[name=password]", PASSWORDS["root"])
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/console")
    page.click("header a[href='/policy']")
    live = fingerprint(load_policy())  # nothing published live: the worker's own policy
    assert page.locator("#run-live").inner_text() == live
    assert page.locator("#run-shadow").inner_text() == "none"

    publish = page.locator("#form-publish")
    assert publish.locator("input[name=note]").get_attribute("maxlength") == "2048"
    publish.locator("textarea[name=text]").fill("[decision\n")  # not TOML: refused
    publish.locator("input[name=note]").fill("a first try")
    publish.locator("input[value=live]").check()
    with page.expect_response("**/policy/actions") as refused:
        publish.locator("button").click()
    assert refused.value.status == 400
    assert "not valid TOML" in page.inner_text("#error")
    assert publish.locator("input[name=note]").input_value() == "a first try"
    assert publish.locator("textarea[name=text]").input_value() == "[decision\n"
    assert publish.locator("input[value=live]").is_checked()

    publish.locator("textarea[name=text]").fill(HOLD_ALL)
    publish.locator("input[name=note]").fill("hold everything, to see what it costs")
    publish.locator("input[value=shadow]").check()
    publish.locator("button").click()
    page.wait_for_url("**/policy?done=publish*")
    shadow = fingerprint(parse_policy(HOLD_ALL, "x"))
    assert f"Published (version {shadow}) as root" in page.inner_text("main")
    assert shadow in page.locator("#pointer-shadow").inner_text()
    latest = page.locator("#trail tr").first.locator("td").all_inner_texts()
    assert latest[1:] == [
        "publish", "shadow", f"none -> {shadow}", "root", "hold everything, to see what it costs"
    ]  # fmt: skip
    options = page.locator("#form-rollback option").all_inner_texts()
    assert len(options) == 1
    assert options[0].startswith(f"{shadow}, published ")
    assert options[0].endswith(" UTC by root: hold everything, to see what it costs")
    page.click(f"a[href='/policy/versions/{shadow}']")
    assert page.inner_text("#policy-text") == HOLD_ALL
    page.go_back()
    assert read_catalog(deployment, warn=pytest.fail).shadow == shadow
    reload_until(
        page, "the worker running the shadow", lambda: page.inner_text("#run-shadow") == shadow
    )

    customers = [unique("pol") for _ in range(3)]
    at = datetime.now(UTC) - timedelta(hours=1)
    bus.send(m for cid in customers for m in s.honest_withdrawal(cid, at))
    today = [f"{cid}-wd-today" for cid in customers]
    bus.wait_for(
        "every withdrawal compared",
        lambda: {v["withdrawal_id"] for v in bus.values(t.SHADOW_DECISIONS)} >= set(today),
    )
    would_hold = len(bus.values(t.SHADOW_DECISIONS, outcome="would_hold"))
    assert would_hold >= len(today)
    assert bus.values(t.SHADOW_DECISIONS, outcome="agree") == []
    reload_until(
        page,
        f"{would_hold} would_hold",
        lambda: page.inner_text("#count-would_hold") == str(would_hold),
    )
    assert page.inner_text("#count-agree") == "0"
    assert page.inner_text("#count-would_allow") == "0"
    pair = page.inner_text("#pair")
    assert f"{live} (the policy the worker started with) against {shadow}" in pair
    compared = {v["withdrawal_id"]: v for v in bus.values(t.SHADOW_DECISIONS)}
    for wid, cid in zip(today, customers, strict=True):
        row = page.locator(f"[id='diff-{wid}']")
        for side in ("live", "shadow"):
            v = compared[wid][side]
            codes = ", ".join(v["reason_codes"]) or "no reasons"
            shown = f"{v['decision']} score {v['risk_score']}: {codes}"
            assert row.locator(f".{side}").inner_text() == shown
        assert row.locator("a").get_attribute("href") == f"/customers/{cid}"
    reasons = Counter(
        code
        for v in bus.values(t.SHADOW_DECISIONS, outcome="would_hold")
        for code in v["shadow"]["reason_codes"] or ["SCORE_ONLY"]
    )
    rows = page.locator("#reasons tr")
    assert sorted(rows.all_inner_texts()) == sorted(
        f"would_hold\t{code}\t{n}" for code, n in reasons.items()
    )
    (ROOT / "artifacts").mkdir(exist_ok=True)
    page.screenshot(path=str(ROOT / "artifacts" / "console-policy.png"), full_page=True)
    context.close()
    # The shadow held nothing: every live verdict on these customers allowed.
    decided = [v for v in bus.values(t.WITHDRAWAL_DECISIONS) if v["withdrawal_id"] in today]
    assert {v["decision"] for v in decided} == {"allow"}


def test_an_admin_promotes_rolls_back_and_stops_a_shadow_and_each_is_audited(
    bus: Bus, deployment: Settings
) -> None:
    admin = Client(deployment, "root")
    hold_all = fingerprint(parse_policy(HOLD_ALL, "x"))
    assert admin.act("promote")[0] == 303
    catalog = read_catalog(deployment, warn=pytest.fail)
    assert (catalog.live, catalog.shadow) == (hold_all, None)

    assert admin.act("publish", text=STRICTER, role="shadow")[0] == 303
    stricter = fingerprint(parse_policy(STRICTER, "x"))
    assert read_catalog(deployment, warn=pytest.fail).shadow == stricter
    _, page = admin.call("/policy")  # what the shadow changes, as `policy diff` says
    assert "<tr><td>decision.hold_score</td><td>0</td><td>50</td></tr>" in page
    assert admin.act("shadow-off")[0] == 303
    assert read_catalog(deployment, warn=pytest.fail).shadow is None
    assert admin.act("rollback", version=stricter)[0] == 303
    assert read_catalog(deployment, warn=pytest.fail).live == stricter
    status, body = admin.act("rollback", version="0000beef")
    assert status == 404  # unknown: the page again, the reason and the note as typed
    assert "no published policy version &#x27;0000beef&#x27;" in body
    assert 'value="rollback by test"' in body

    trail = [(a["action"], a["actor"], a["version"]) for a in audit(deployment)]
    assert trail == [
        ("publish", "root", hold_all),
        ("promote", "root", hold_all),
        ("publish", "root", stricter),
        ("shadow-off", "root", None),
        ("rollback", "root", stricter),
    ]
    _, page = admin.call("/policy")
    shown = re.findall(r"<td>([a-z-]+)</td><td>(?:live|shadow)</td>", page.split('id="trail"')[1])
    assert shown == [a for a, _, _ in reversed(trail)]  # the latest first
    assert admin.call("/policy/versions/0000beef")[0] == 404
    assert f'<strong id="run-live">{stricter}</strong>' in page or _runs(admin, stricter)


def _runs(admin: Client, version: str, timeout: float = 20) -> bool:
    """Whether the worker's page says it runs `version` live within `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _, page = admin.call("/policy")
        if f'<strong id="run-live">{version}</strong>' in page:
            return True
        time.sleep(0.3)
    return False
