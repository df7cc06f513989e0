"""Fixtures for the web application: a database of its own with the sample (pages commit there:
sign-ins, access-log rows), the app served on a free port by several threads (a page loads its
script, the map's data and the panel at once), accounts, and a `page` on it in the suite's
Debian Chromium (tests/browser.py). Screenshots go to test-artifacts/web/."""

from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from api import create_app
from landdb import users
from landdb.config import Settings

from ..browser import ARTIFACTS as BROWSER_ARTIFACTS
from ..conftest import sample_database

ARTIFACTS = BROWSER_ARTIFACTS / "web"
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def web_database_url(pg_server) -> str:
    return sample_database(pg_server, "landdb_web")


@pytest.fixture(scope="session")
def web_engine(web_database_url):
    eng = create_engine(web_database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def accounts(web_engine) -> dict[str, int]:
    """An officer, a viewer and an admin (password PASSWORD): name → users.id."""
    with Session(web_engine) as session, session.begin():
        made = {role: users.create_user(session, f"{role}1", role, PASSWORD, f"Nguyễn Thị {role.title()}").id
                for role in ("officer", "viewer", "admin")}
    return made


@pytest.fixture(scope="session")
def web_server(web_database_url, accounts):
    """Base URL of the app served from a thread (rate limits off, a fixed cookie key)."""
    settings = Settings(database_url=web_database_url, rate_limit="", rate_limit_public="",
                        extra={"secret_key": "web-tests-only", "web_signin_rate_limit": ""})
    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def page(browser, web_server):
    """A fresh browser context (no cookies) at 1280×800, its base URL the web server; page
    script errors fail the test. (`browser` is the suite's Debian Chromium, tests/browser.py.)"""
    context = browser.new_context(base_url=web_server, viewport={"width": 1280, "height": 800}, locale="vi-VN")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.set_default_timeout(15_000)
    yield pg
    context.close()
    assert not errors, errors


def shot(page, name: str) -> Path:
    """Keep a screenshot of the page as a test artifact."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def sign_in(page, username: str, password: str = PASSWORD) -> None:
    page.goto("/sign-in")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def wait_map(page) -> None:
    page.wait_for_selector("#map[data-ready=true]")


@pytest.fixture
def db(web_engine):
    """A session on the web database (committed reads; the tests only read with it)."""
    with Session(web_engine) as session:
        yield session
