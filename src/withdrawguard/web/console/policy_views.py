"""The console's policy page (`/policy`, any signed-in role) and its actions
(`POST /policy/actions`, admins only, with the CSRF token).

An action is planned with `policy/actions.py` against the catalog as this worker read
it from the policies topic, and its records are written in one Kafka transaction (the
worker's `adapters/policy_writes.PolicyWriter`): the policies records, then the audit
record on `policy-audit`, the actor being the signed-in user; all become visible
together, or, on a failure part-way, none. The answer waits (a few
seconds at most) until the page's own reader has read the last policies record and the
audit record back, so the page it redirects to shows the change and its trail. A refused
action answers with its status (400 what was asked is wrong, 403 the role or the CSRF
token, 404 an unknown version, 503 the topics not read yet or not writable) and the page
again, the reason above it and what was typed in its form; a caller that asked for JSON
(`access.wants_json`) gets `{"error": reason}` instead.

`/policy/versions/<id>` shows a published version's TOML text (any signed-in role).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from faust.web import View

from withdrawguard.policy import actions
from withdrawguard.policy.actions import ActionError, Plan
from withdrawguard.policy.audit import AuditEntry
from withdrawguard.policy.shadow_tally import ShadowTally
from withdrawguard.policy.versions import Catalog
from withdrawguard.web.console.access import Refused
from withdrawguard.web.console.html import html_response, see_other
from withdrawguard.web.console.policy_pages import (
    MAX_NOTE,
    PolicyView,
    policy_page,
    typed,
    version_page,
)
from withdrawguard.web.console.sessions import Session

if TYPE_CHECKING:
    from withdrawguard.web.console.wiring import Console

Running = Callable[[], tuple[str, str | None]]
DONE = {
    "publish": "Published",
    "promote": "Promoted the shadow to live",
    "rollback": "Rolled back",
    "shadow-off": "Stopped the shadow",
}
_ID = re.compile(r"^[0-9a-f]{8}$")


class PolicySource(Protocol):
    """What the page reads: the catalog and the shadow tally as every worker reads them
    from the topics (`streaming/control/policy_feed.py`)."""

    catalog: Catalog | None
    tally: ShadowTally

    @property
    def trail(self) -> Iterable[AuditEntry]: ...

    async def wait_read(self, partition: int, offset: int, timeout_s: float = 10) -> bool: ...

    async def wait_audit(self, partition: int, offset: int, timeout_s: float = 10) -> bool: ...


Written = tuple[tuple[int, int], tuple[int, int]]
"""(partition, offset) of the last policies record, and of the audit record."""
WritePolicy = Callable[[list[tuple[bytes, bytes]], tuple[bytes, bytes]], Awaitable[Written]]
"""Writes an action's policies records and its audit record (key, value), all or none."""


@dataclass(frozen=True)
class PolicyPage:
    """What the worker hands the console for its policy page."""

    running: Running
    """The (live, shadow) versions the worker's pipeline decides with now."""
    write: WritePolicy
    """Writes an action's policies and audit records in one transaction
    (`adapters/policy_writes.PolicyWriter`)."""
    feed: PolicySource


def register(console: Console, page: PolicyPage) -> None:
    """Serve the policy page and its actions from `console`'s app."""
    app = console.app
    running, write, feed = page.running, page.write, page.feed

    def view() -> PolicyView:
        return PolicyView(running(), feed.catalog, feed.tally, feed.trail)

    @app.page("/policy")
    class Policy(View):
        async def get(self, request: web.Request) -> web.Response:
            session = request["session"]
            csrf = console.access.signer.csrf_token(session)
            flash = ""
            if (done := request.query.get("done")) in DONE:
                version = request.query.get("version", "")
                shown = version if _ID.match(version) else "none"
                flash = f"{DONE[done]} (version {shown}) as {session.user}."
            return html_response(policy_page(view(), session, csrf, flash))

    @app.page("/policy/versions/{version_id}")
    class Version(View):
        async def get(self, request: web.Request, version_id: str) -> web.Response:
            session = request["session"]
            found = feed.catalog.versions.get(version_id) if feed.catalog else None
            if found is None:
                why = f"no published policy version {version_id[:40]!r}"
                return await refused(Refused(request, 404, why))
            csrf = console.access.signer.csrf_token(session)
            return html_response(version_page(found, session, csrf))

    @app.page("/policy/actions")
    class Action(View):
        async def post(self, request: web.Request) -> web.Response:
            try:
                session, form = await console.access.acting(request, need=actions.ADMIN_ROLE)
            except Refused as no:
                return await refused(no)
            catalog = feed.catalog
            if catalog is None:
                why = "the policies topic is not read yet: try again in a moment"
                return await refused(Refused(request, 503, why, form))
            try:
                plan = _plan(catalog, form, session.user, int(time.time() * 1000))
            except ActionError as exc:
                return await refused(Refused(request, exc.status, str(exc), form))
            try:
                (partition, offset), audit_at = await _write(write, plan)
            except Exception as exc:  # noqa: BLE001 - refused with the reason, logged
                why = (
                    "not written, nothing of it applies: the policy topics cannot be "
                    f"written ({type(exc).__name__}: {exc})"
                )
                return await refused(Refused(request, 503, why[:300], form))
            await feed.wait_read(partition, offset)
            await feed.wait_audit(*audit_at)
            version = plan.version or "none"
            return see_other(f"/policy?done={plan.action}&version={version}")

    async def refused(no: Refused) -> web.Response:
        """The policy page again with the reason and what was typed (JSON if asked for)."""

        def page(session: Session) -> str:
            csrf = console.access.signer.csrf_token(session)
            return policy_page(view(), session, csrf, error=no.reason, typed_in=typed(no.form))

        return await no.answer(page)


def _plan(catalog: Catalog, form: Any, actor: str, now: int) -> Plan:
    action = str(form.get("action", ""))
    note = str(form.get("note", ""))
    if len(note) > MAX_NOTE:
        raise ActionError(f"the note is longer than {MAX_NOTE} characters")
    if action == "publish":
        role = str(form.get("role", ""))
        return actions.publish(catalog, str(form.get("text", "")), actor, note, now, role)
    if action == "promote":
        return actions.promote(catalog, actor, note, now)
    if action == "rollback":
        return actions.rollback(catalog, str(form.get("version", "")), actor, note, now)
    if action == "shadow-off":
        return actions.set_shadow(catalog, None, actor, note, now)
    raise ActionError(f"unknown action {action!r}")


async def _write(write: WritePolicy, plan: Plan) -> Written:
    """The plan's records, in one transaction; the partition and offset of the last
    policies record, and of the audit record."""
    return await write(plan.policies, ((plan.version or "none").encode(), plan.audit))
