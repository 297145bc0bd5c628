"""The decision API's service tokens: a bearer token from the file, or 401."""

from __future__ import annotations

from pathlib import Path

import pytest

from withdrawguard.web.decision_api import ServiceTokensError, load_tokens, refusal


@pytest.fixture
def tokens(tmp_path: Path) -> tuple[bytes, ...]:
    f = tmp_path / "tokens"
    f.write_text("# payments team\ntok-payments\n\n  tok-treasury  \n", encoding="utf-8")
    return load_tokens(f)


def test_every_listed_token_is_accepted_and_comments_are_not_tokens(
    tokens: tuple[bytes, ...],
) -> None:
    assert len(tokens) == 2
    assert refusal("Bearer tok-payments", tokens) is None
    assert refusal("bearer tok-treasury", tokens) is None
    assert refusal("Bearer # payments team", tokens) == "invalid token"


@pytest.mark.parametrize(
    ("header", "reason"),
    [(None, "missing bearer token"), ("", "missing bearer token"),
     ("Basic dG9rLXBheW1lbnRz", "missing bearer token"), ("Bearer ", "missing bearer token"),
     ("Bearer tok-payment", "invalid token"), ("Bearer tok-payments-and-more", "invalid token")],
)  # fmt: skip
def test_a_missing_or_wrong_token_is_refused_with_a_reason(
    tokens: tuple[bytes, ...], header: str | None, reason: str
) -> None:
    assert refusal(header, tokens) == reason


def test_without_a_tokens_file_every_request_is_refused() -> None:
    assert load_tokens(None) == ()
    assert refusal("Bearer anything", ()) == "no service tokens are configured"


def test_an_unreadable_tokens_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ServiceTokensError, match="missing"):
        load_tokens(tmp_path / "missing")
