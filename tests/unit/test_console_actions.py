"""The holds list's and a customer page's quick actions keep four eyes: a release at or
above the threshold is refused there, whoever asks, and sent to the customer's case."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from withdrawguard.cases.policy import CasePolicy
from withdrawguard.engine.state import CustomerState, WithdrawalRec
from withdrawguard.web.console.actions import case_decision, four_eyes, release_refusal

POLICY = CasePolicy(four_eyes_release_at={"JPY": Decimal(1_000_000)})
NOW = datetime(2026, 12, 7, tzinfo=UTC)


def _state(amount: str, currency: str = "JPY") -> CustomerState:
    state = CustomerState("C1")
    state.withdrawals["W1"] = WithdrawalRec(
        "e1", 0, amount, currency, "0005//1234567", "web", None, None, None, None
    )
    return state


@pytest.mark.parametrize(
    ("amount", "currency", "two"),
    [
        ("999999", "JPY", False),
        ("1000000", "JPY", True),
        ("9500000", "JPY", True),
        ("10", "EUR", True),  # no threshold for the currency: always two people
        ("not a number", "JPY", True),
        ("NaN", "JPY", True),
    ],
)
def test_four_eyes_from_the_threshold_per_currency(amount: str, currency: str, two: bool) -> None:
    assert four_eyes(POLICY, amount, currency) is two


def test_a_large_release_is_refused_with_the_way_to_its_case_and_a_small_one_goes() -> None:
    form = {"action": "release", "withdrawal_id": "W1", "note": "called back"}
    large = _state("9500000")
    why = release_refusal(POLICY, case_decision(form, "admin-ada", large, NOW), large)
    assert why is not None
    assert "9500000 JPY takes four eyes" in why and "/cases/of/C1" in why
    small = _state("50000")
    assert release_refusal(POLICY, case_decision(form, "ana", small, NOW), small) is None


def test_confirming_fraud_is_never_held_back_by_four_eyes() -> None:
    form = {"action": "confirm_fraud", "withdrawal_id": "W1", "note": "forged account"}
    large = _state("9500000")
    assert release_refusal(POLICY, case_decision(form, "ana", large, NOW), large) is None


def test_a_refused_action_shows_the_customer_page_with_the_reason_and_the_note_as_typed() -> None:
    from withdrawguard.web.console.pages import customer_page
    from withdrawguard.web.console.sessions import Session
    from withdrawguard.web.console.timeline import timeline

    state = _state("50000")
    session = Session("ana", "analyst", "sid", 2_000_000_000)
    typed = 'called back <b>"twice"</b>'
    page = customer_page(
        "C1", timeline(state), session, "csrf", error="400: a note is required", typed={"W1": typed}
    )
    assert '<p class="flash error" id="error">400: a note is required</p>' in page
    assert 'value="called back &lt;b&gt;&quot;twice&quot;&lt;/b&gt;"' in page
    assert 'maxlength="2048"' in page
    quiet = customer_page("C1", timeline(state), session, "csrf")
    assert 'id="error"' not in quiet and 'value=""' in quiet
