"""Browser tests' fixtures: Playwright driving Debian's Chromium (never a downloaded browser) against the app served live.

The fixtures are registered for the whole suite by tests/conftest.py (`pytest_plugins`); a test
asks for them by name and imports `screenshot` when it wants a named one:

- `live_server`: the test's app (sessions joined to the test's rolled-back transaction) served by
  werkzeug on 127.0.0.1 and a free port, one request at a time (the test's one database
  connection is used by the server thread while the test waits on the browser; do not query the
  database from the test while the page is still loading).
- `browser`: one headless Chromium per test session (`/usr/bin/chromium`, or
  `LANDDB_CHROMIUM`), with the flags every landdb browser test uses.
- `page`: a fresh browser context and page per test (its /favicon.ico answered 204 in the
  browser); JavaScript errors and console errors are
  collected in `page_errors`; a screenshot of the page as the test left it is kept in the
  artifacts folder (`test-artifacts/`, or `LANDDB_TEST_ARTIFACTS`) whatever the outcome.
- `screenshot(page, name)`: keep a screenshot under a name of the test's choosing.

Chromium comes from Debian (`scripts/install-system.sh chromium`, which `make test` runs); the
Playwright Python package brings only its driver. A missing Chromium fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("LANDDB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(os.environ.get("LANDDB_TEST_ARTIFACTS", Path(__file__).resolve().parent.parent / "test-artifacts"))
VIEWPORT = {"width": 1024, "height": 768}


def artifact_path(name: str, suffix: str = ".png") -> Path:
    """A file in the artifacts folder for `name` (made safe for a file name)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / (re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") + suffix)


def screenshot(page, name: str) -> Path:
    """Save a screenshot of `page` as `name`.png in the artifacts folder; its path."""
    path = artifact_path(name)
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium under Playwright, for the whole test session."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which(CHROMIUM) or CHROMIUM
    if not os.access(executable, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: run `scripts/install-system.sh chromium` (make test does)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def live_server(app):
    """Base URL (http://127.0.0.1:PORT) of the test's app, served from a thread for this test."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught JavaScript errors and console errors of the test's page, in order."""
    return []


@pytest.fixture
def page(browser, page_errors, request):
    """A page in a fresh context; screenshot kept as `<test name>.png` when the test ends."""
    context = browser.new_context(viewport=VIEWPORT, locale="vi-VN")
    # Chromium asks every site for /favicon.ico; the app has none, and that 404 is no page's error.
    context.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    pg = context.new_page()
    pg.on("pageerror", lambda exc: page_errors.append(f"pageerror: {exc}"))
    pg.on("console", lambda msg: page_errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    try:
        yield pg
    finally:
        try:
            screenshot(pg, request.node.nodeid)
        finally:
            context.close()
