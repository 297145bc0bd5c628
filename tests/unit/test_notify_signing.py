"""Webhook signatures: HMAC-SHA256 over `t.body`, refused when tampered or replayed late."""

from __future__ import annotations

from withdrawguard.notify.signing import sign, verify_signature

BODY = b'{"type":"fraud_alert","alert":{"alert_id":"a-1"}}'
NOW = 1_700_000_000.0


def test_a_signed_body_verifies() -> None:
    header = sign("whsec", BODY, NOW)
    assert header.startswith(f"t={int(NOW)},v1=")
    assert verify_signature("whsec", header, BODY, NOW + 1)


def test_a_tampered_body_fails() -> None:
    header = sign("whsec", BODY, NOW)
    assert not verify_signature("whsec", header, BODY.replace(b"a-1", b"a-2"), NOW)


def test_another_secret_fails() -> None:
    assert not verify_signature("other", sign("whsec", BODY, NOW), BODY, NOW)


def test_a_replay_after_the_five_minute_window_fails() -> None:
    header = sign("whsec", BODY, NOW)
    assert verify_signature("whsec", header, BODY, NOW + 300)
    assert not verify_signature("whsec", header, BODY, NOW + 301)


def test_a_changed_timestamp_fails_and_a_rotated_secret_can_be_added() -> None:
    header = sign("whsec", BODY, NOW)
    forged = header.replace(f"t={int(NOW)}", f"t={int(NOW) + 60}")
    assert not verify_signature("whsec", forged, BODY, NOW)
    rotated = header + "," + sign("new", BODY, NOW).split(",")[1]
    assert verify_signature("new", rotated, BODY, NOW)


def test_malformed_headers_fail() -> None:
    for header in ("", "v1=abc", "t=abc,v1=abc", f"t={int(NOW)}"):
        assert not verify_signature("whsec", header, BODY, NOW)
