"""The console's policy page without a broker: the live-against-shadow tally of real
comparison records (policy/shadow.py), and the page as each role sees it."""

from __future__ import annotations

import re
from dataclasses import replace
from functools import partial
from html import escape

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request
from aiohttp.web import Response

from withdrawguard.policy.actions import ActionError, publish, rollback
from withdrawguard.policy.audit import AuditEntry
from withdrawguard.policy.shadow import Comparison, Side
from withdrawguard.policy.shadow_tally import RECENT, ShadowTally, policy_id_of
from withdrawguard.policy.versions import MAX_TEXT, Catalog
from withdrawguard.web.console.access import Refused
from withdrawguard.web.console.policy_pages import (
    MAX_NOTE,
    PolicyView,
    policy_page,
    typed,
    version_page,
)
from withdrawguard.web.console.sessions import Session

# The console's gate keeps the session under a string key of the request, as it has
# since Faust's views first read it; aiohttp now recommends typed keys, with a warning.
pytestmark = pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")

LIVE, SHADOW = "0.9.0+policy.aaaaaaaa", "0.9.0+policy.bbbbbbbb"
STRICT = "[decision]\nhold_score = 50\n"


def record(wid: str, live: tuple[str, tuple[str, ...]], shadow: tuple[str, ...] | str) -> bytes:
    shadow_decision, shadow_reasons = (shadow, ()) if isinstance(shadow, str) else ("hold", shadow)
    c = Comparison(
        f"C-{wid}",
        wid,
        f"e-{wid}",
        1_700_000_000_000,
        Side(LIVE, live[0], 70 if live[0] == "hold" else 0, live[1]),
        Side(SHADOW, shadow_decision, 0, shadow_reasons),
    )
    return orjson.dumps(c.to_wire())


def test_a_verdict_version_names_its_policy_id() -> None:
    assert policy_id_of(LIVE) == "aaaaaaaa"


def test_the_tally_counts_each_outcome_and_the_holding_sides_reasons() -> None:
    tally = ShadowTally("aaaaaaaa", "bbbbbbbb")
    assert tally.add(record("w1", ("allow", ()), "allow"))
    assert tally.add(record("w2", ("allow", ()), ("NEW_DEVICE",)))
    assert tally.add(record("w3", ("hold", ("DRAIN", "NEW_DEVICE")), "allow"))
    assert dict(tally.counts) == {"agree": 1, "would_hold": 1, "would_allow": 1}
    assert dict(tally.reasons["would_hold"]) == {"NEW_DEVICE": 1}
    assert dict(tally.reasons["would_allow"]) == {"DRAIN": 1, "NEW_DEVICE": 1}
    assert [d.withdrawal_id for d in tally.recent] == ["w3", "w2"]
    assert tally.recent[0].live.reasons == ("DRAIN", "NEW_DEVICE")


def test_the_tally_ignores_other_pairs_and_unreadable_records() -> None:
    tally = ShadowTally("aaaaaaaa", "cccccccc")
    assert not tally.add(record("w1", ("allow", ()), "hold"))  # another shadow
    assert not ShadowTally("dddddddd", "bbbbbbbb").add(record("w1", ("allow", ()), "hold"))
    assert ShadowTally(None, "bbbbbbbb").add(record("w1", ("allow", ()), "hold"))  # any live
    assert not tally.add(b"not json")
    assert not tally.add(b'{"live": {}}')
    assert tally.skipped == 2
    assert not tally.counts


def test_a_withdrawal_compared_again_is_listed_once_as_its_latest_comparison() -> None:
    tally = ShadowTally("aaaaaaaa", "bbbbbbbb")
    tally.add(record("w1", ("allow", ()), "hold"))
    tally.add(record("w2", ("allow", ()), "hold"))
    tally.add(record("w1", ("allow", ()), ("DRAIN",)))
    assert [(d.withdrawal_id, d.shadow.reasons) for d in tally.recent] == [
        ("w1", ("DRAIN",)),
        ("w2", ()),
    ]
    tally.add(record("w2", ("allow", ()), "allow"))  # now they agree: no longer listed
    assert [d.withdrawal_id for d in tally.recent] == ["w1"]
    assert dict(tally.counts) == {"would_hold": 3, "agree": 1}


def test_the_tally_keeps_only_the_most_recent_differences() -> None:
    tally = ShadowTally("aaaaaaaa", "bbbbbbbb")
    for n in range(RECENT + 5):
        tally.add(record(f"w{n}", ("allow", ()), "hold"))
    assert tally.counts["would_hold"] == RECENT + 5
    assert len(tally.recent) == RECENT
    assert tally.recent[0].withdrawal_id == f"w{RECENT + 4}"


def view() -> PolicyView:
    catalog = Catalog()
    plan = publish(catalog, "[decision]\nhold_score = 0\n", "root", "<b>try</b>", 1, "shadow")
    for key, value in plan.policies:
        catalog.apply(key, value)
    tally = ShadowTally(None, catalog.shadow)
    return PolicyView(("aaaaaaaa", catalog.shadow), catalog, tally)


def test_only_an_admin_is_shown_the_forms_and_every_value_is_escaped() -> None:
    for role in ("viewer", "analyst"):
        page = policy_page(view(), Session("u", role, "sid", 0), "tok")
        assert '<form class="policy-act"' not in page
        assert "&lt;b&gt;try&lt;/b&gt;" in page and "<b>try</b>" not in page
    page = policy_page(view(), Session("root", "admin", "sid", 0), "tok")
    for action in ("publish", "promote", "shadow-off", "rollback"):
        assert f'id="form-{action}"' in page
    assert 'href="/policy"' in page  # the nav links the page


def published(*texts: tuple[str, str, int], live: str = "") -> Catalog:
    """A catalog with each (text, note, time) published in shadow, then `live` promoted."""
    catalog = Catalog()
    for text, note, at in texts:
        for key, value in publish(catalog, text, "ada", note, at, "shadow").policies:
            catalog.apply(key, value)
    if live:
        for key, value in publish(catalog, live, "ada", "go live", 9_000, "live").policies:
            catalog.apply(key, value)
    return catalog


ADMIN = Session("root", "admin", "sid", 0)


def test_the_trail_lists_the_latest_action_first_with_its_note_and_versions() -> None:
    entries = [
        AuditEntry("publish", "ada", 1_000, "first <try>", "shadow", "aaaaaaaa", None),
        AuditEntry("promote", "bob", 5_000, "looks fine", "live", "aaaaaaaa", "cccccccc"),
    ]
    page = policy_page(replace(view(), trail=entries), ADMIN, "tok")
    trail = page[page.index('id="trail"') :]
    assert trail.index("looks fine") < trail.index("first &lt;try&gt;")
    assert "cccccccc -&gt; aaaaaaaa" in trail and "<td>bob</td>" in trail
    assert trail.count("<tr>") == 2


def test_each_rollback_choice_names_its_version_when_by_whom_and_why() -> None:
    catalog = published(
        ("[decision]\nhold_score = 10\n", "ten", 1_000),
        ("[decision]\nhold_score = 20\n", "twenty", 2_000),
        live="[decision]\nhold_score = 30\n",
    )
    page = policy_page(PolicyView(("x", None), catalog, ShadowTally(None, None)), ADMIN, "tok")
    form = page[page.index('id="form-rollback"') :]
    options = re.findall(r"<option [^>]*>([^<]*)</option>", form[: form.index("</form>")])
    assert options == [
        f"{v.id}, published {stamp} UTC by ada: {v.note}"
        for v, stamp in (
            (catalog.versions[catalog.shadow or ""], "1970-01-01 00:00:02"),
            (next(v for v in catalog.versions.values() if v.note == "ten"), "1970-01-01 00:00:01"),
        )
    ]
    assert catalog.live not in "".join(options)  # the live version is not offered


def test_a_refused_form_shows_again_what_was_typed_in_it_and_only_there() -> None:
    form = {"action": "publish", "note": 'why "not"', "text": "[decision\n", "role": "live"}
    page = policy_page(view(), ADMIN, "tok", error="not valid TOML", typed_in=typed(form))
    publish_form = page[page.index('id="form-publish"') :]
    assert 'value="why &quot;not&quot;"' in publish_form
    assert "[decision\n</textarea>" in publish_form
    assert 'value="live" checked' in publish_form
    assert page.count('value="why') == 1  # not in the promote or rollback forms
    assert f'maxlength="{MAX_NOTE}"' in page and f'maxlength="{MAX_TEXT}"' in publish_form


def test_the_page_shows_what_the_shadow_changes_and_links_each_versions_text() -> None:
    catalog = published(("[decision]\nhold_score = 0\n", "all", 2_000), live=STRICT)
    page = policy_page(PolicyView(("x", None), catalog, ShadowTally(None, None)), ADMIN, "tok")
    changes = page[page.index('id="changes"') :]
    assert "<tr><td>decision.hold_score</td><td>50</td><td>0</td></tr>" in changes
    for vid in catalog.versions:
        assert f'<a href="/policy/versions/{vid}">' in page
    text = version_page(catalog.versions[catalog.live or ""], ADMIN, "tok")
    assert '<pre id="policy-text">[decision]\nhold_score = 50\n</pre>' in text


def test_a_versions_text_is_shown_escaped() -> None:
    catalog = published(("# <script>alert(1)</script>\n" + STRICT, "x", 1))
    shown = version_page(next(iter(catalog.versions.values())), ADMIN, "tok")
    assert "&lt;script&gt;" in shown and "<script>" not in shown.split("<main>")[1]


REFUSALS = [
    (400, "promote", "no version runs in shadow: nothing to promote"),
    (403, "publish", "missing or wrong CSRF token"),
    (404, "rollback", "no published policy version 'ffffffff' (published: none yet)"),
    (
        503,
        "publish",
        "not written, nothing of it applies: the policy topics cannot be written "
        "(KafkaConnectionError: down)",
    ),
]


async def refused(
    status: int, why: str, form: dict[str, str], accept: str, v: PolicyView, who: Session = ADMIN
) -> Response:
    request = make_mocked_request("POST", "/policy/actions", headers={"Accept": accept})
    request["session"] = who
    page = partial(policy_page, v, error=why, typed_in=typed(form))
    return await Refused(request, status, why, form).answer(lambda s: page(s, "tok"))


@pytest.mark.parametrize(("status", "action", "why"), REFUSALS)
async def test_each_refusal_answers_a_browser_with_its_status_the_page_the_reason_and_the_note(
    status: int, action: str, why: str
) -> None:
    form = {"action": action, "note": "typed <here>", "version": "ffffffff", "text": "x"}
    response = await refused(status, why, form, "text/html,application/xhtml+xml,*/*;q=0.8", view())
    assert response.status == status
    assert response.content_type == "text/html"
    page = str(response.text)
    assert f'<p class="flash error" id="error">{escape(why)}</p>' in page
    kept = page[page.index(f'id="form-{action}"') :]
    assert 'value="typed &lt;here&gt;"' in kept[: kept.index("</form>")]


@pytest.mark.parametrize(("status", "action", "why"), REFUSALS)
async def test_a_caller_that_asks_for_json_gets_the_reason_as_json(
    status: int, action: str, why: str
) -> None:
    response = await refused(status, why, {"action": action}, "application/json", view())
    assert (response.status, response.content_type) == (status, "application/json")
    assert orjson.loads(response.text or "") == {"error": why}


def test_a_rollback_to_an_unknown_version_is_refused_as_unknown_with_404() -> None:
    with pytest.raises(ActionError, match="no published policy version 'ffffffff'") as no:
        rollback(Catalog(), "ffffffff", "root", "back", 1)
    assert no.value.status == 404


async def test_refused_before_the_topic_is_read_the_publish_form_keeps_the_typed_text() -> None:
    unread = PolicyView(("aaaaaaaa", None), None, ShadowTally(None, None))
    form = {"action": "publish", "note": "first", "text": STRICT, "role": "live"}
    response = await refused(503, "the policies topic is not read yet", form, "", unread)
    publish_form = str(response.text)[str(response.text).index('id="form-publish"') :]
    assert f"{STRICT}</textarea>" in publish_form and 'value="first"' in publish_form
    assert "not been read yet" in str(response.text)


async def test_a_refused_non_admin_is_shown_the_note_read_only_with_no_form() -> None:
    form = {"action": "promote", "note": "typed <here>"}
    why = "the analyst role cannot do this (it needs admin)"
    response = await refused(403, why, form, "", view(), Session("ana", "analyst", "sid", 0))
    page = str(response.text)
    assert response.status == 403 and '<form class="policy-act"' not in page
    assert '<textarea id="unsent" rows="3" readonly>typed &lt;here&gt;</textarea>' in page
    assert page.index('id="error"') < page.index('id="unsent"')
