"""The /ogc HTML pages in Debian's Chromium: Vietnamese labels, a table of features and a MapLibre map that loads."""

from __future__ import annotations

import re

from tests.browser import screenshot

from .test_items import lonlat_box


def test_items_page_shows_a_table_a_map_and_pages_on(live_server, page, page_errors, grid, grid_box):
    x0, y0, x1, y1 = lonlat_box(grid_box)
    page.goto(f"{live_server}/ogc/collections/parcels/items?f=html&limit=5&bbox={x0},{y0},{x1},{y1}")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Thửa đất")
    table = page.get_by_role("table")
    assert table.get_by_role("columnheader", name="Mã loại đất").is_visible()
    assert table.get_by_role("row").count() == 6  # the header and five parcels
    page.get_by_role("region", name="Bản đồ").wait_for()
    page.wait_for_function("window.mapReady === true", timeout=30_000)
    assert page.locator("#map canvas").count() == 1
    screenshot(page, "ogc-items")
    page.get_by_role("link", name="Trang sau").click()
    page.wait_for_url(re.compile(r".*next=.*"))
    assert page.get_by_role("table").get_by_role("row").count() == 6
    page.wait_for_function("window.mapReady === true", timeout=30_000)
    assert not page_errors


def test_one_parcel_page(live_server, page, page_errors, grid):
    page.goto(f"{live_server}/ogc/collections/parcels/items/{grid[3]['fid']}?f=html")
    assert grid[3]["code"] in page.get_by_role("heading", level=1).inner_text()
    assert page.get_by_role("rowheader", name="Diện tích pháp lý (m²)").is_visible()
    page.wait_for_function("window.mapReady === true", timeout=30_000)
    screenshot(page, "ogc-item")
    assert not page_errors


def test_landing_page_leads_to_the_collections(live_server, page, page_errors):
    page.goto(f"{live_server}/ogc/?f=html")
    page.get_by_role("link", name="Danh sách bộ dữ liệu").click()
    page.get_by_role("link", name="Đơn vị hành chính (phường, xã)").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Đơn vị hành chính (phường, xã)"
    assert not page_errors
