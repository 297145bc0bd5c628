"""The console's access pieces: password hashes, signed session cookies, CSRF tokens,
the sign-in rate limit, roles, and the users file the CLI writes."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from withdrawguard.auth.roles import may
from withdrawguard.auth.users import (
    UsersFileError,
    add_user,
    authenticate,
    hash_password,
    load_users,
    verify_password,
)
from withdrawguard.cli import main
from withdrawguard.web.console.ratelimit import SignInLimiter
from withdrawguard.web.console.sessions import Signer, load_secret

FAST = {"n": 2**4, "r": 8, "p": 1}  # tiny scrypt cost: these tests check logic, not cost
NOW = 1_700_000_000.0


def test_a_password_verifies_against_its_own_hash_only() -> None:
    stored = hash_password("correct horse", **FAST)
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert "correct horse" not in stored


def test_each_hash_has_its_own_salt_and_carries_its_parameters() -> None:
    a, b = hash_password("same", **FAST), hash_password("same", **FAST)
    assert a != b
    scheme, n, r, p, _salt, _key = a.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16", "8", "1")


def test_default_hash_uses_strong_scrypt_parameters() -> None:
    assert hash_password("x").split("$")[1:4] == ["16384", "8", "1"]


@pytest.mark.parametrize("stored", ["", "plain", "md5$1$2$3$4$5", "scrypt$x$8$1$AA==$AA=="])
def test_a_malformed_hash_never_verifies(stored: str) -> None:
    assert not verify_password("anything", stored)


def test_authenticate_refuses_unknown_users_and_wrong_passwords(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_user(path, "ana", "analyst", "pw-ana-123")
    users = load_users(path)
    assert authenticate(users, "ana", "pw-ana-123") == users["ana"]
    assert authenticate(users, "ana", "wrong") is None
    assert authenticate(users, "nobody", "pw-ana-123") is None


def test_users_file_is_private_and_holds_no_password(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    add_user(path, "ana", "analyst", "pw-ana-123")
    add_user(path, "vic", "viewer", "pw-vic-123")
    add_user(path, "ana", "viewer", "pw-ana-456")  # replaces
    assert path.stat().st_mode & 0o777 == 0o600
    assert "pw-" not in path.read_text()
    users = load_users(path)
    assert {n: u.role for n, u in users.items()} == {"ana": "viewer", "vic": "viewer"}
    assert authenticate(users, "ana", "pw-ana-456") is not None


def test_unknown_roles_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsersFileError):
        add_user(tmp_path / "u.json", "x", "root", "password")
    (tmp_path / "bad.json").write_text(
        json.dumps({"users": [{"name": "x", "role": "root", "password": ""}]})
    )
    with pytest.raises(UsersFileError, match="unknown role"):
        load_users(tmp_path / "bad.json")


def test_cli_adds_a_user_from_stdin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    monkeypatch.setenv("WG_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret-pass\n"))
    assert main(["users", "add", "ana", "--role", "analyst", "--password-stdin"]) == 0
    assert "s3cret-pass" not in capsys.readouterr().out
    assert authenticate(load_users(tmp_path / "users.json"), "ana", "s3cret-pass") is not None


def test_cli_refuses_a_short_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setenv("WG_USERS_FILE", str(tmp_path / "users.json"))
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "add", "ana", "--role", "analyst", "--password-stdin"]) == 1


SIGNER = Signer(b"k" * 32, hours=8)


def test_a_session_cookie_reads_back_until_it_expires() -> None:
    session, cookie = SIGNER.issue("ana", "analyst", NOW)
    assert SIGNER.read(cookie, NOW + 10) == session
    assert SIGNER.read(cookie, NOW + 8 * 3600 - 1) == session
    assert SIGNER.read(cookie, NOW + 8 * 3600) is None


def test_a_tampered_cookie_or_one_signed_with_another_secret_is_refused() -> None:
    _, cookie = SIGNER.issue("vic", "viewer", NOW)
    payload, signature = cookie.split(".")
    forged = payload.replace(payload[5], "A" if payload[5] != "A" else "B", 1)
    assert SIGNER.read(f"{forged}.{signature}", NOW) is None
    assert SIGNER.read(f"{payload}.{'0' * 64}", NOW) is None
    assert Signer(b"x" * 32, 8).read(cookie, NOW) is None
    for junk in (None, "", "abc", "a.b.c", ".", f"{payload}."):
        assert SIGNER.read(junk, NOW) is None


def test_csrf_token_belongs_to_its_session() -> None:
    a, _ = SIGNER.issue("ana", "analyst", NOW)
    b, _ = SIGNER.issue("ana", "analyst", NOW)
    token = SIGNER.csrf_token(a)
    assert SIGNER.csrf_ok(a, token)
    assert not SIGNER.csrf_ok(b, token)
    assert not SIGNER.csrf_ok(a, None)
    assert not SIGNER.csrf_ok(a, "")


def test_a_secret_is_generated_once_into_the_data_dir_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("test")
    with caplog.at_level(logging.INFO):
        first = load_secret(None, tmp_path, log)
        second = load_secret(None, tmp_path, log)
    assert first == second and len(first) >= 32
    assert (tmp_path / "console-session.secret").stat().st_mode & 0o777 == 0o600
    assert "WG_SESSION_SECRET_FILE is unset" in caplog.text
    assert first.decode() not in caplog.text


async def test_failures_beyond_the_limit_block_until_they_leave_the_window() -> None:
    limiter = SignInLimiter(per_user=3, window=60)
    for i in range(3):
        assert await limiter.blocked("ana", "10.0.0.1", NOW + i) is None
        await limiter.failed("ana", "10.0.0.1", NOW + i)
    assert await limiter.blocked("ana", "10.0.0.1", NOW + 3) is not None
    assert await limiter.blocked("vic", "10.0.0.1", NOW + 3) is None
    assert await limiter.blocked("ana", "10.0.0.1", NOW + 59.9) is not None
    # the oldest failure left the window
    assert await limiter.blocked("ana", "10.0.0.1", NOW + 60) is None


async def test_sign_ins_are_limited_per_user_and_per_address() -> None:
    limiter = SignInLimiter()
    for _ in range(5):
        await limiter.failed("ana", "10.0.0.1", NOW)
    why = await limiter.blocked("ana", "10.0.0.2", NOW)
    assert why == "too many failed sign-ins for this user"
    assert await limiter.blocked("vic", "10.0.0.1", NOW) is None
    for n in range(15):
        await limiter.failed(f"user{n}", "10.0.0.1", NOW)
    why = await limiter.blocked("vic", "10.0.0.1", NOW)
    assert why == "too many failed sign-ins from this address"
    await limiter.succeeded("ana")
    assert await limiter.blocked("ana", "10.0.0.3", NOW) is None


def test_analysts_may_act_and_viewers_may_only_look() -> None:
    assert may("analyst", "analyst") and may("analyst", "viewer")
    assert may("viewer", "viewer") and not may("viewer", "analyst")
    assert may("admin", "admin") and may("admin", "analyst") and not may("analyst", "admin")
    assert not may("", "viewer") and not may("root", "viewer")


@pytest.mark.parametrize("name", ["bob smith", "<script>", "", " ana", "a" * 65, "-x", "ana\n"])
def test_user_names_that_would_break_pages_logs_or_commands_are_refused(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(UsersFileError, match="not allowed"):
        add_user(tmp_path / "u.json", name, "analyst", "password")
    assert not (tmp_path / "u.json").exists()


@pytest.mark.parametrize("name", ["ana", "Ana.Lee", "ana_lee-2", "ana@fraud.example"])
def test_ordinary_user_names_are_accepted(tmp_path: Path, name: str) -> None:
    add_user(tmp_path / "u.json", name, "analyst", "password")
    assert name in load_users(tmp_path / "u.json")
