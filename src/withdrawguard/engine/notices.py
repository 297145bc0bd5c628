"""Customer notices out, customer responses in.

A notice goes out (topic `customer-notices`) on a destination change, a credential
change (email, phone, password, mfa) and a withdrawal's first hold: once per event, its
id a digest of the customer, the kind and the event, so a replay gives the same id and
a repeated event sends nothing. It names the contact to use: when an email or phone
change falls within `contact_window_hours` before the notice, the contact registered
just before the first such change (`as_of`, named by its time: the product never holds
contact details), else the current one. Several changes in the window are one attacker's
as likely as one, so the notice goes back past all of them.

A response (topic `customer-responses`) answers one notice:
- a denial of a destination change or of a hold marks the destination fraudulent, as a
  `confirm_fraud` case decision does (engine/decide.py); of a credential change, it holds
  the customer's withdrawals within `denied_change_hold_hours` after the change
  (`CUSTOMER_DENIED`) and marks fraudulent every destination set within that window after
  it (`taken_over`), whenever the withdrawal to it comes. Either raises a critical
  `fraud-alerts` record, kind `customer_denial`. A denial counts through any contact: an
  attacker does not deny.
- a confirmation through the contact the notice named verifies the destination, as a
  `verify_destination` case decision does; through any other contact it counts for
  nothing, and the verdicts the notice concerns say so (`CONFIRMATION_NOT_COUNTED`,
  weight 0).
A confirmation that counted for nothing leaves the notice open to a later answer (the
victim's denial after the attacker's confirmation); a denial or a counted confirmation
is final. A response to a notice this customer was never sent (unknown, another
customer's, or forgotten after `keep_days`), another answer to a notice already
answered for good, or a response dated before its notice raises `InvalidEvent` before
anything changes: the worker dead-letters it.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

from withdrawguard.engine.events import (
    CREDENTIAL_CHANGES,
    AccountChange,
    CustomerEvent,
    CustomerResponse,
    mask_key,
)
from withdrawguard.engine.evidence import describe
from withdrawguard.engine.fields import InvalidEvent
from withdrawguard.engine.outputs import Alert, CustomerNotice, Outcome
from withdrawguard.engine.policy import DAY, HOUR, Policy
from withdrawguard.engine.rules.base import Finding, Subject
from withdrawguard.engine.state import CONTACT_CHANGES, CustomerState, NoticeRec, WithdrawalRec
from withdrawguard.engine.timeutil import digest, iso, to_ms

CUSTOMER_DENIED = "CUSTOMER_DENIED"
"""Holding: the customer denied a credential change shortly before the withdrawal."""
CONFIRMATION_NOT_COUNTED = "CONFIRMATION_NOT_COUNTED"
"""Weight 0: a confirmation came through a contact the notice did not name."""
DENIAL_ALERT = "customer_denial"
ACTOR = "customer"
"""The `actor` of a hold a customer's confirmation released."""


RESPONSE_SEEN = "response:"
"""`state.seen` holds the ids of superseded responses under this prefix (case decision
ids are there unprefixed), so a copy of an answer a later one replaced is known as one."""


class Notices:
    """The `[notices]` table of a policy, and what follows from it."""

    def __init__(self, policy: Policy) -> None:
        cfg = policy.notices
        self.enabled = bool(cfg["enabled"])
        self.window = int(cfg["contact_window_hours"]) * HOUR
        self.hold_after = int(cfg["denied_change_hold_hours"]) * HOUR
        self.keep = int(cfg["keep_days"]) * DAY

    # ------------------------------------------------------------ out

    def send(self, state: CustomerState, event: CustomerEvent, out: Outcome) -> None:
        """The notices an applied event calls for: its own change, and each hold it placed."""
        if not self.enabled:
            return
        if isinstance(event, AccountChange):
            c = state.changes.get(event.event_id)
            if c is not None and c.change_type == "withdrawal_destination":
                self._notice(state, "destination_change", event.event_id, c.ts, out, dest=c.dest)
            elif c is not None and c.change_type in CREDENTIAL_CHANGES:
                self._notice(state, "credential_change", event.event_id, c.ts, out)
        for h in out.holds:
            w = state.withdrawals.get(h.withdrawal_id)
            if h.placed and w is not None:
                self._notice(state, "hold", w.event_id, w.ts, out, wid=h.withdrawal_id)

    def _notice(
        self,
        state: CustomerState,
        kind: str,
        event_id: str,
        at: int,
        out: Outcome,
        *,
        dest: str | None = None,
        wid: str | None = None,
    ) -> None:
        cid = state.customer_id
        notice_id = f"ntc-{digest(cid, kind, event_id)}"
        if notice_id in state.notices:
            return
        now = max(state.horizon, at)
        change_type, channel = None, None
        if wid is not None:
            w = state.withdrawals[wid]
            dest, channel = w.dest, w.channel
        else:
            c = state.changes[event_id]
            change_type, channel = c.change_type, c.channel
        recent = [t for t in self._contact_changes(state) if now - self.window <= t <= now]
        as_of = min(recent) - 1 if recent else None
        contact = "current" if as_of is None else "as_of"
        rec = NoticeRec(now, kind, event_id, at, wid, change_type, dest, channel, contact, as_of)
        state.notices[notice_id] = rec
        payload = {
            "notice_id": notice_id,
            "customer_id": cid,
            "kind": kind,
            "event_id": event_id,
            "withdrawal_id": wid,
            "change_type": change_type,
            "occurred_at": iso(at),
            "created_at": iso(now),
            "channel": channel,
            "destination": None if dest is None else mask_key(dest),
            "contact": contact,
            "contact_as_of": None if as_of is None else iso(as_of),
        }
        out.notices.append(CustomerNotice(notice_id, cid, payload))

    @staticmethod
    def _contact_changes(state: CustomerState, *, kept: bool = False) -> Iterator[int]:
        """Email and phone change times; with `kept`, also those kept past the changes'
        window for an unanswered notice's answer (engine/prune.py)."""
        changes = chain(state.changes.values(), state.kept.changes.values() if kept else ())
        return (c.ts for c in changes if c.change_type in CONTACT_CHANGES)

    # ------------------------------------------------------------ in

    def answer(self, state: CustomerState, e: CustomerResponse, out: Outcome) -> NoticeRec | None:
        """Record the answer on its notice (None: this response was applied before);
        raises InvalidEvent, changing nothing, for a response the notice cannot take."""
        cid, ts = state.customer_id, to_ms(e.occurred_at)
        n = state.notices.get(e.notice_id)
        if n is None:
            raise InvalidEvent(
                "notice_id",
                f"names no notice sent to customer {cid[:64]!r} (unknown, another "
                "customer's, or older than the notices' keep_days)",
            )
        seen = RESPONSE_SEEN + e.response_id
        if n.response_id == e.response_id or seen in state.seen:
            return None
        if n.response_id is not None and (n.answer == "deny" or n.counted):
            raise InvalidEvent(
                "notice_id", f"was already answered by response {n.response_id!r} ({n.answer})"
            )
        if ts < n.ts:
            raise InvalidEvent("occurred_at", f"is before its notice was sent ({iso(n.ts)})")
        # A confirmation that counted for nothing leaves the notice open: the customer's
        # later answer through the contact named still counts, and an attacker who
        # confirms first (through the contact they changed) cannot shut out a denial.
        if n.response_id is not None:  # superseded: a copy of it is known as one
            state.seen[RESPONSE_SEEN + n.response_id] = n.answered_at or ts
        n.response_id, n.answer, n.answered_at = e.response_id, e.answer, ts
        if e.answer == "confirm":
            n.why_not = self._untrusted(state, n, e, ts)
            n.counted = not n.why_not
        else:
            n.why_not, n.counted = "", False
            out.alerts.append(self._denial_alert(state, e.notice_id, n, e))
        return n

    def _untrusted(self, state: CustomerState, n: NoticeRec, e: CustomerResponse, ts: int) -> str:
        """Why a confirmation does not count ('' when it does): the contact it came through
        (registered at `contact_as_of`, or now) is not the one the notice named (at its
        `contact_as_of`, or when it was made): an email or phone change lies between."""
        named = n.as_of if n.as_of is not None else n.ts
        used = ts if e.contact_as_of is None else to_ms(e.contact_as_of)
        low, high = min(named, used), max(named, used)
        between = [t for t in self._contact_changes(state, kept=True) if low < t <= high]
        if not between:
            return ""
        kind = n.kind.replace("_", " ")
        through = "the current contact" if e.contact_as_of is None else f"the one as of {iso(used)}"
        return (
            f"the customer's confirmation {e.response_id} of the {kind} came through {through}, "
            f"changed at {iso(max(between))}, not the contact the notice named: "
            "it counts for nothing"
        )

    def _denial_alert(
        self, state: CustomerState, notice_id: str, n: NoticeRec, e: CustomerResponse
    ) -> Alert:
        cid = state.customer_id
        what = f"the {n.change_type} change" if n.change_type else f"the {n.kind.replace('_', ' ')}"
        if n.dest is not None:
            what += f" (destination {mask_key(n.dest)})"
        code = CUSTOMER_DENIED if n.kind == "credential_change" else "CONFIRMED_FRAUD_DESTINATION"
        return Alert(
            alert_id=digest(cid, DENIAL_ALERT, notice_id),
            customer_id=cid,
            severity="critical",
            risk_score=100,
            rule_codes=(code,),
            summary=(
                f"Customer {cid} denied {what} of {iso(n.at)}: response {e.response_id} "
                f"to notice {notice_id}, through the {e.contact.replace('_', '-')} contact."
            ),
            evidence=tuple(d for d in (describe(state, n.event_id),) if d is not None),
            withdrawal_id=n.withdrawal_id,
            created_at=to_ms(e.occurred_at),
            kind=DENIAL_ALERT,
        )

    # ------------------------------------------------------------ what verdicts see

    def findings(self, s: Subject) -> tuple[Finding, ...]:
        """CUSTOMER_DENIED and CONFIRMATION_NOT_COUNTED for the withdrawal `s`."""
        found: list[Finding] = []
        for notice_id, n in s.state.notices.items():
            if n.answer == "deny" and n.kind == "credential_change":
                if n.at <= s.w.ts <= n.at + self.hold_after:
                    detail = (
                        f"the customer denied the {n.change_type} change of {iso(n.at)} "
                        f"(response {n.response_id} to notice {notice_id}); withdrawals "
                        f"within {self.hold_after // HOUR} h after it are held"
                    )
                    found.append(
                        Finding(
                            CUSTOMER_DENIED,
                            detail,
                            100,
                            holding=True,
                            severity="critical",
                            evidence=(n.event_id,),
                        )
                    )
            elif n.why_not and self._concerns(n, s.w):
                found.append(Finding(CONFIRMATION_NOT_COUNTED, n.why_not, 0))
        return tuple(found)

    def taken_over(self, state: CustomerState) -> Iterator[tuple[str, int, str]]:
        """Destinations set by a change within `denied_change_hold_hours` after a credential
        change the customer denied, as (destination, when both were known, the denial's
        response id): whoever made the change the customer denied had the access to set
        them, and a patient attacker withdraws after that window."""
        for n in state.notices.values():
            if n.answer != "deny" or n.kind != "credential_change" or n.response_id is None:
                continue
            end = n.at + self.hold_after
            for c in state.changes.values():
                if c.change_type == "withdrawal_destination" and c.dest and n.at <= c.ts <= end:
                    yield c.dest, max(c.ts, n.answered_at or c.ts), n.response_id

    def _concerns(self, n: NoticeRec, w: WithdrawalRec) -> bool:
        if n.dest is not None:
            return w.dest == n.dest
        return n.at <= w.ts <= n.at + self.hold_after

    def prune(self, state: CustomerState) -> None:
        """Forget notices older than `keep_days` (a response to one is then dead-lettered)."""
        floor = state.horizon - self.keep
        state.notices = {k: n for k, n in state.notices.items() if n.ts >= floor}


def may_take_over(e: CustomerEvent) -> bool:
    """Whether applying `e` can add to `Notices.taken_over`: a destination change, or a
    denial (the two may come in either order)."""
    if isinstance(e, AccountChange):
        return e.change_type == "withdrawal_destination"
    return isinstance(e, CustomerResponse) and e.answer == "deny"


def verify_dest(
    state: CustomerState, dest: str, ts: int, ref_id: str, actor: str, note: str | None
) -> None:
    """`dest` verified at `ts` by `actor` (a `verify_destination` case decision, or the
    customer's counted confirmation): the latest verification is kept."""
    prior = state.verified_dest.get(dest)
    if prior is None or (ts, ref_id) > (prior[0], prior[1]):
        state.verified_dest[dest] = [ts, ref_id, actor, note]
