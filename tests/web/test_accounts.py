"""Accounts and sign-in over HTTP: Argon2, the lock, the cookie's flags and expiry, CSRF, the CLI."""

from __future__ import annotations

import time

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from api import create_app
from landdb import users
from landdb.cli import main
from landdb.models import User

from .conftest import CSRF, PASSWORD


@pytest.fixture
def officer(session):
    row = users.create_user(session, "canbo", "officer", PASSWORD, "Trần Văn Cán")
    session.commit()
    return row


def session_cookie(resp) -> str:
    """The Set-Cookie header of the session (other cookies may come beside it)."""
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("landdb_session="))


def token(client, path="/sign-in") -> str:
    return CSRF.search(client.get(path).get_data(as_text=True)).group(1)


def post_sign_in(client, username, password, **kw):
    return client.post("/sign-in", data={"username": username, "password": password,
                                         "csrf_token": token(client)}, **kw)


def test_password_is_stored_as_argon2id(session, officer):
    assert officer.password_hash.startswith("$argon2id$")
    assert PASSWORD not in officer.password_hash


def test_sign_in_sets_a_hardened_cookie_and_signs_out(client, officer):
    resp = post_sign_in(client, "canbo", PASSWORD)
    assert resp.status_code == 302
    cookie = session_cookie(resp)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    assert "Trần Văn Cán" in client.get("/").get_data(as_text=True)
    resp = client.post("/sign-out", data={"csrf_token": token(client, "/")})
    assert resp.status_code == 302
    assert "Trần Văn Cán" not in client.get("/").get_data(as_text=True)


def test_cookie_is_secure_over_https(app, officer):
    client = app.test_client()
    page = client.get("/sign-in", base_url="https://landdb.example")
    tok = CSRF.search(page.get_data(as_text=True)).group(1)
    resp = client.post("/sign-in", base_url="https://landdb.example",
                       headers={"Referer": "https://landdb.example/sign-in"},
                       data={"username": "canbo", "password": PASSWORD, "csrf_token": tok})
    assert resp.status_code == 302
    assert "Secure" in session_cookie(resp)


def test_wrong_password_is_refused_with_one_message(client, officer):
    wrong = post_sign_in(client, "canbo", "not the password")
    unknown = post_sign_in(client, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert "Sai tên đăng nhập hoặc mật khẩu" in wrong.get_data(as_text=True)
    assert "Sai tên đăng nhập hoặc mật khẩu" in unknown.get_data(as_text=True)


def test_account_locks_after_repeated_failures(client, session, officer):
    for _ in range(users.MAX_FAILURES):
        assert post_sign_in(client, "canbo", "wrong password!").status_code == 401
    locked = post_sign_in(client, "canbo", PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert "tạm khóa" in locked.get_data(as_text=True)
    session.expire_all()
    row = session.scalar(select(User).where(User.username == "canbo"))
    assert row.failed_attempts == users.MAX_FAILURES and row.locked_until is not None
    users.reset_password(session, "canbo", "a brand new password")  # an admin lifts it
    session.commit()
    assert post_sign_in(client, "canbo", "a brand new password").status_code == 302


def test_sign_in_attempts_are_throttled_per_address(settings, connection, officer):
    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    app = create_app(settings.with_(extra={"web_signin_rate_limit": "3/minute"}), testing=True, sessionmaker=maker)
    client = app.test_client()
    codes = [post_sign_in(client, "canbo", "wrong password!").status_code for _ in range(4)]
    assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize("path", ["/sign-in", "/sign-out", "/language"])
def test_post_without_csrf_token_is_400(client, path):
    resp = client.post(path, data={"username": "canbo", "password": PASSWORD, "lang": "en"})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)


def test_idle_session_ends(client, officer):
    post_sign_in(client, "canbo", PASSWORD)
    with client.session_transaction() as s:
        s["seen"] = int(time.time()) - 31 * 60
    assert "Trần Văn Cán" not in client.get("/").get_data(as_text=True)


def test_session_ends_after_its_absolute_lifetime(client, officer):
    post_sign_in(client, "canbo", PASSWORD)
    with client.session_transaction() as s:
        s["since"] = int(time.time()) - 9 * 3600  # 8 hours at most, however active
    assert "Trần Văn Cán" not in client.get("/").get_data(as_text=True)


def test_disabling_or_resetting_ends_open_sessions(client, session, officer):
    post_sign_in(client, "canbo", PASSWORD)
    assert "Trần Văn Cán" in client.get("/").get_data(as_text=True)
    users.reset_password(session, "canbo", "another long password")
    session.commit()
    assert "Trần Văn Cán" not in client.get("/").get_data(as_text=True)
    post_sign_in(client, "canbo", "another long password")
    users.disable_user(session, "canbo")
    session.commit()
    assert "Trần Văn Cán" not in client.get("/").get_data(as_text=True)
    assert post_sign_in(client, "canbo", "another long password").status_code == 401


def test_sign_in_follows_only_local_next(client, officer):
    resp = client.post("/sign-in", data={"username": "canbo", "password": PASSWORD, "csrf_token": token(client),
                                         "next": "//evil.example/x"})
    assert resp.headers["Location"] == "/"


def test_users_cli(web_database_url):
    runner = CliRunner()
    env = {"DATABASE_URL": web_database_url}
    made = runner.invoke(main, ["users", "create", "cli.user", "--role", "viewer", "--name", "Lê Văn Xem"], env=env)
    assert made.exit_code == 0, made.output
    password = made.stdout.strip().splitlines()[0]
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert "cli.user" in listed.output and "viewer" in listed.output and "$argon2" not in listed.output
    reset = runner.invoke(main, ["users", "reset-password", "cli.user", "--password-stdin"], env=env,
                          input="a fresh long password\n")
    assert reset.exit_code == 0, reset.output
    disabled = runner.invoke(main, ["users", "disable", "cli.user"], env=env)
    assert disabled.exit_code == 0 and "disabled" in disabled.output
    listed = runner.invoke(main, ["users", "list"], env=env)
    assert [line for line in listed.output.splitlines() if "cli.user" in line][0].endswith("disabled")
    bad = runner.invoke(main, ["users", "create", "x", "--role", "officer"], env=env)
    assert bad.exit_code == 1 and "user name" in bad.output
    assert password not in listed.output


def test_static_files_do_not_count_against_the_public_rate_limit(settings, connection):
    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    app = create_app(settings.with_(rate_limit_public="5/minute"), testing=True, sessionmaker=maker)
    client = app.test_client()
    for path in ["/static/vendor/maplibre-gl/maplibre-gl.js", "/assets/web.js", "/assets/web.css"] * 3:
        with client.get(path) as resp:
            assert resp.status_code == 200
    assert [client.get("/").status_code for _ in range(6)] == [200] * 5 + [429]  # pages still count
