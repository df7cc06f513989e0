"""The browser fixtures themselves (tests/browser.py): Debian's Chromium opens a page the app serves live."""

from __future__ import annotations

import json

from .browser import artifact_path, screenshot


def test_chromium_reads_a_page_served_by_the_live_app(live_server, page, page_errors):
    resp = page.goto(f"{live_server}/healthz")
    assert resp.status == 200
    assert json.loads(page.inner_text("body"))["status"] in ("ok", "degraded")
    path = screenshot(page, "browser-fixture-healthz")
    assert path.stat().st_size > 0 and path == artifact_path("browser-fixture-healthz")
    assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
    assert not page_errors
