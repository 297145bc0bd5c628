"""A customer's console timeline shows the notices sent to the customer and the answers
received: what each notice was about, the contact it named, the answer and whether it
counted; every text escaped (web/console/timeline.py, pages.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.unit.player import Player
from withdrawguard.sim import scenarios as s
from withdrawguard.sim.answers import response
from withdrawguard.web.console.pages import customer_page
from withdrawguard.web.console.sessions import Session
from withdrawguard.web.console.timeline import Entry, timeline

T0 = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
SESSION = Session("ana", "analyst", "sid", 2_000_000_000)


def changed_email_then_destination(player: Player, cid: str) -> None:
    """An email change a day before a destination change, and a withdrawal to the new
    destination an hour after it (held): notices of all three, naming the contact
    registered before the email change."""
    player.play(s.honest_history(cid, T0 - 30 * DAY))
    player.play(
        [
            s.change(cid, f"{cid}-e", T0 - DAY, "email"),
            s.change(cid, f"{cid}-d", T0, "withdrawal_destination", destination=s.MULE_DEST),
            s.withdrawal(
                cid,
                f"{cid}-w1",
                T0 + HOUR,
                f"{cid}-wd1",
                "100000",
                destination=s.MULE_DEST,
                balance="10000000",
                ip=s.home_ip(cid),
                device=s.home_device(cid),
            ),
        ]
    )


def notice_ids(player: Player, cid: str) -> dict[str, str]:
    """Kind -> notice id of the customer's notices."""
    return {n.to_wire()["kind"]: n.notice_id for n in player.notices if n.customer_id == cid}


def by_kind(entries: list[Entry], kind: str) -> list[Entry]:
    return [e for e in entries if e.kind == kind]


def test_a_notice_row_says_what_it_was_about_and_the_contact_it_named(player: Player) -> None:
    changed_email_then_destination(player, "c1")
    entries = timeline(player.state("c1"))
    rows = {e.event_id: e.summary for e in by_kind(entries, "notice")}
    ids = notice_ids(player, "c1")
    assert set(rows) == set(ids.values())
    before_email = "2024-04-30T08:59:59.999000+00:00"
    assert rows[ids["destination_change"]] == (
        "notice sent about the destination change c1-d of 2024-05-01T09:00:00+00:00, "
        "destination bank 0009 branch 222 acct ****4321, to the contact registered as of "
        f"{before_email}, before a recent email or phone change; unanswered"
    )
    assert rows[ids["credential_change"]].startswith(
        "notice sent about the email change c1-e of 2024-04-30T09:00:00+00:00, to the contact"
    )
    assert rows[ids["hold"]].startswith("notice sent about the hold of withdrawal c1-wd1 of")
    assert "7654321" not in str(rows)
    assert by_kind(entries, "customer_response") == []


def test_a_confirmation_through_the_named_contact_shows_counted_and_another_not_counted(
    player: Player,
) -> None:
    changed_email_then_destination(player, "c1")
    ids = notice_ids(player, "c1")
    as_of = "2024-04-30T08:59:59.999000+00:00"
    dest, email = ids["destination_change"], ids["credential_change"]
    player.play(
        [
            response("c1", "r1", T0 + 2 * HOUR, dest, "confirm", contact_as_of=as_of),
            response("c1", "r2", T0 + 3 * HOUR, email, "confirm"),
        ]
    )
    entries = timeline(player.state("c1"))
    answers = {e.event_id: e for e in by_kind(entries, "customer_response")}
    counted, ignored = answers["r1"], answers["r2"]
    assert counted.answer == "counted"
    assert counted.at == "2024-05-01T11:00:00+00:00"
    assert counted.summary == (
        f"customer answered confirm to notice {ids['destination_change']} (the destination "
        "change c1-d): counted, through the contact the notice named (the contact "
        f"registered as of {as_of}, before a recent email or phone change)"
    )
    assert ignored.answer == "not counted"
    assert ignored.summary.startswith(
        f"customer answered confirm to notice {ids['credential_change']} (the email change "
        "c1-e): not counted: the customer's confirmation r2 of the credential change came "
        "through the current contact, changed at 2024-04-30T09:00:00+00:00"
    )
    assert ignored.summary.endswith("it counts for nothing")
    notices = {e.event_id: e.summary for e in by_kind(entries, "notice")}
    assert notices[ids["destination_change"]].endswith("; answered confirm by r1")
    assert notices[ids["hold"]].endswith("; unanswered")


def test_a_denial_shows_denied(player: Player) -> None:
    changed_email_then_destination(player, "c1")
    ids = notice_ids(player, "c1")
    player.play([response("c1", "r1", T0 + 2 * HOUR, ids["hold"], "deny")])
    [denial] = by_kind(timeline(player.state("c1")), "customer_response")
    assert denial.answer == "denied"
    assert denial.summary == (
        f"customer answered deny to notice {ids['hold']} (the hold of withdrawal c1-wd1): "
        "a denial counts through any contact"
    )


def test_the_customer_page_shows_notices_and_answers_as_text_never_markup(
    player: Player,
) -> None:
    """Ids come from the broker's systems: a response id with markup in it is shown as
    text in the answer's row and in its notice's."""
    cid = "c<b>1</b>"
    changed_email_then_destination(player, cid)
    ids = notice_ids(player, cid)
    rid = "r<script>alert(1)</script>"
    player.play([response(cid, rid, T0 + 2 * HOUR, ids["hold"], "confirm")])
    page = customer_page(cid, timeline(player.state(cid)), SESSION, "csrf")
    assert rid not in page and "alert(1)</script>" not in page
    assert "<b>1</b>" not in page
    assert "r&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('<td>customer_response<div class="muted">') == 1
    assert '<div class="answer">answer <strong>not counted</strong></div>' in page
    assert page.count('<td>notice<div class="muted">') == 3
