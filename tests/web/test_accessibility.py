"""Accessibility of the main pages: axe-core's rules (WCAG 2.1 A/AA and best practices) in the
browser, keyboard-only use from the search box through the results to the card's tabs with the
focus always visible, and the layout at 1280×800 and on a 768 px wide tablet. axe-core is
vendored in tests/vendor/axe-core (pinned and hash-checked by scripts/vendor-assets.sh)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from landdb.lookup import fold

from .conftest import shot, sign_in, wait_map
from .test_pages import a_parcel, card_heading

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"


def axe_violations(page) -> list[tuple]:
    """axe-core's violations on the page as it is now: (rule, impact, first elements)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document)")
    return [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3]) for v in result["violations"]]


@pytest.mark.parametrize("who", ["public", "officer"])
def test_main_pages_pass_axe(page, db, who):
    p = a_parcel(db)
    if who == "officer":
        sign_in(page, "officer1")
    street = re.match(r"Số \d+, ([^,]+)", p.address).group(1)
    pages = {"map": "/", "search results": f"/search?q={fold(street)}", "card": f"/parcel/{p.parcel_code}",
             "card as of a day": f"/parcel/{p.parcel_code}?at=2024-01-01&tab=rights",
             "nothing found": "/search?q=99999-1-1", "sign-in": "/sign-in"}
    found = {}
    for name, url in pages.items():
        page.goto(url)
        wait_map(page)
        found[name] = axe_violations(page)
    assert found == {name: [] for name in pages}


def focus_is_visible(page) -> bool:
    """The focused element draws a focus ring (an outline at least 2 px wide)."""
    return page.evaluate("""() => { const s = getComputedStyle(document.activeElement);
        return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }""")


def tab_to(page, predicate: str, limit: int = 30) -> None:
    """Press Tab until `predicate` (JS over `el`, the focused element) holds; each stop visibly focused."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        assert focus_is_visible(page), page.evaluate("document.activeElement.outerHTML.slice(0, 200)")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return {predicate}; }})()"):
            return
    raise AssertionError(f"Tab never reached {predicate}")


@pytest.mark.parametrize("width,height", [(1280, 800), (768, 1024)])
def test_keyboard_only_search_results_card_and_tabs(browser, web_server, db, width, height):
    p = a_parcel(db)
    street = re.match(r"Số \d+, ([^,]+)", p.address).group(1)
    context = browser.new_context(base_url=web_server, viewport={"width": width, "height": height})
    page = context.new_page()
    page.goto("/")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Bỏ qua, tới nội dung")).to_be_focused()
    tab_to(page, "el.id === 'q'")
    page.keyboard.type(fold(street))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Kết quả tìm kiếm")
    # the results come next in the tab order: the first one, then the one we want
    tab_to(page, f"el.closest('.results') !== null && el.dataset.code === '{p.parcel_code}'")
    shot(page, f"keyboard-results-{width}")
    page.keyboard.press("Enter")
    card_heading(page, p.parcel_code)
    tab_to(page, "el.getAttribute('role') === 'tab'")
    expect(page.get_by_role("tab", name="Lịch sử")).to_be_focused()
    page.keyboard.press("ArrowRight")
    rights = page.get_by_role("tab", name="Quyền và chủ sử dụng")
    expect(rights).to_be_focused()
    expect(rights).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-rights")).to_be_visible()
    expect(page.locator("#panel-history")).to_be_hidden()
    page.keyboard.press("End")
    expect(page.get_by_role("tab", name="Giấy chứng nhận và thế chấp")).to_be_focused()
    expect(page.locator("#panel-certificates")).to_be_visible()
    page.keyboard.press("Home")
    expect(page.get_by_role("tab", name="Lịch sử")).to_be_focused()
    # Tab leaves the tab list for the open panel (one stop per tab list)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "panel-history" and focus_is_visible(page)
    shot(page, f"keyboard-card-{width}")
    context.close()


def test_every_control_has_a_name(page, db):
    p = a_parcel(db)
    sign_in(page, "officer1")
    page.goto(f"/parcel/{p.parcel_code}")
    wait_map(page)
    unlabelled = page.evaluate("""[...document.querySelectorAll('input:not([type=hidden]), select, button, a[href]')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()
                     && !e.getAttribute('title'))
        .map(e => e.outerHTML)""")
    assert unlabelled == []


@pytest.mark.parametrize("width,height", [(1280, 800), (768, 1024)])
def test_fits_desktop_and_tablet(browser, web_server, db, width, height):
    p = a_parcel(db)
    street = re.match(r"Số \d+, ([^,]+)", p.address).group(1)
    context = browser.new_context(base_url=web_server, viewport={"width": width, "height": height})
    page = context.new_page()
    sign_in(page, "officer1")
    for name, url in [("search", f"/search?q={fold(street)}"), ("card", f"/parcel/{p.parcel_code}")]:
        page.goto(url)
        wait_map(page)
        # nothing wider than the screen: no horizontal scroll of the page or of the panel
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert page.evaluate("(() => { const e = document.querySelector('#panel'); return e.scrollWidth <= e.clientWidth; })()")
        panel = page.locator("#panel").bounding_box()
        assert panel["height"] >= 300 and panel["width"] >= 380  # room to read
        assert page.locator("#map").bounding_box()["height"] > 300
        expect(page.get_by_role("heading", level=1)).to_be_in_viewport()
        assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('#panel')).fontSize)") >= 14
        shot(page, f"{name}-{width}x{height}")
    for tab in page.get_by_role("tab").all():  # every tab reachable on screen, none cut off
        box = tab.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= width
    page.get_by_role("tab", name="Quyền và chủ sử dụng").click()
    expect(page.locator("#panel-rights .owner").first).to_be_visible()
    shot(page, f"card-rights-{width}x{height}")
    context.close()
