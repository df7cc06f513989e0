"""Registering the geometric changes from the map in a real browser (Playwright on Debian's chromium):
a split drawn across the parcel on the map canvas, a merge of neighbours clicked on the map (a
parcel apart refused with its message, the register's own refusal shown next to the parcels), a
certificate re-issue and a geometry correction from an uploaded survey. After each, the card shows
the new version and journal row and the map's tiles are fetched again (`v=` the journal seq)."""

from __future__ import annotations

import itertools
import json

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from landdb import registry
from landdb.cli import main

from ..registry_helpers import X0, Y0, first_registration_body, person, rect, serial
from .conftest import shot, sign_in, wait_map
from .test_forms import journal_rows

TO_WGS84 = Transformer.from_crs(5899, 4326, always_xy=True)
_cells = itertools.count()
_people = itertools.count(9400)
SHOWN = ("() => landdb.map.queryRenderedFeatures({layers: ['parcels-fill']})"
         ".map(f => f.properties.parcel_code).filter(Boolean)")


def cell() -> tuple[float, float]:
    """The lower-left corner of a 60 m square of the test area of this module's own."""
    n = next(_cells)
    return X0 + 1000 + 60 * (n % 10), Y0 + 1500 + 60 * (n // 10)


def register(web_engine, x, y, *, w=20.0, h=10.0, holders=None) -> str:
    body = first_registration_body(x, y, w=w, h=h, sheet=761, holders=holders or [dict(person(next(_people)), share=1)])
    with Session(web_engine) as s, s.begin():
        answer, _ = registry.register(s, body, actor="test:forms-map")
    return answer["opened"]["parcels"][0]


def map_ready(page) -> None:
    wait_map(page)
    page.wait_for_function("landdb.map.loaded() && !landdb.map.isMoving()"
                           " && document.querySelector('#map').dataset.ready === 'true'")


def click_map(page, x: float, y: float) -> None:
    """Click the map canvas where the point (x, y) of EPSG:5899 is drawn."""
    lon, lat = TO_WGS84.transform(x, y)
    px, py = page.evaluate("([lon, lat]) => { const p = landdb.map.project([lon, lat]); return [p.x, p.y]; }", [lon, lat])
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + px, box["y"] + py)


def tile_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url) if "/tiles/WebMercatorQuad/" in r.url else None)
    return seen


def journal_ok(web_database_url) -> None:
    verified = CliRunner().invoke(main, ["journal", "verify"], env={"DATABASE_URL": web_database_url})
    assert verified.exit_code == 0 and "journal ok" in verified.output, verified.output


def open_form(page, code: str, link: str) -> None:
    page.goto(f"/parcel/{code}")
    page.get_by_role("navigation", name="Đăng ký biến động").get_by_role("link", name=link).click()
    map_ready(page)
    page.wait_for_selector("#map-tools[data-ready=true]")


def test_split_drawn_on_the_map(page, accounts, web_engine, db, web_database_url):
    x, y = cell()
    code = register(web_engine, x, y)  # 20 × 10 m
    sign_in(page, "officer1")
    open_form(page, code, "Tách thửa")
    tools = page.get_by_role("group", name="Đường chia thửa")
    tools.get_by_role("button", name="Vẽ đường chia").click()
    click_map(page, x + 12, y - 4)
    click_map(page, x + 12, y + 14)  # across the parcel: the core cuts it in EPSG:5899
    check = page.locator("#split-check")
    expect(check).to_contain_text("Các thửa mới phủ đúng thửa gốc")
    children = page.get_by_role("table", name="Các thửa mới")
    areas = [float(t.split()[0]) for t in children.locator("tbody td.area").all_inner_texts()]
    # west to east, in VN-2000 metres (not Web Mercator's); the cut is where the click fell, to a pixel
    assert areas[0] == pytest.approx(120, abs=3) and areas[1] == pytest.approx(80, abs=3)
    assert sum(areas) == pytest.approx(200, abs=0.02)
    expect(page.get_by_label("Diện tích pháp lý thửa mới 1")).to_have_value(f"{areas[0]:.1f}")
    assert page.locator("#map-tools").get_attribute("data-shown") == "2"  # both drawn on the map
    # the legal areas typed are summed as they are typed
    page.get_by_label("Diện tích pháp lý thửa mới 2").fill("80,5")
    expect(page.locator("#legal-sum")).to_have_text(f"{areas[0] + 80.5:.1f}")
    page.get_by_label("Diện tích pháp lý thửa mới 2").fill(f"{areas[1]:.1f}")
    shot(page, "form-split-drawn")

    page.get_by_role("button", name="Xem trước").click()
    preview = page.get_by_role("region", name="Xem trước: những gì sẽ thay đổi")
    expect(preview).to_contain_text(f"Phiên bản 1 của thửa {code}")
    expect(page.locator(".preview-opened")).to_contain_text(f"{areas[0]:.1f} m²")
    assert len(journal_rows(db, code)) == 1  # the preview wrote nothing
    requests = tile_requests(page)
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    done = page.get_by_role("status", name="Kết quả đăng ký")
    expect(done).to_contain_text("Đã đăng ký Tách thửa")
    rows = journal_rows(db, code)
    assert [k for _, k, _ in rows] == ["first_registration", "split"]
    seq = rows[-1][0]
    expect(done.locator(".seq")).to_have_text(str(seq))
    kids = db.execute(text("SELECT c.parcel_code FROM parcel_lineage l JOIN parcels p ON p.id = l.parent_id "
                           "JOIN parcels c ON c.id = l.child_id WHERE p.parcel_code = :c ORDER BY c.id"),
                      {"c": code}).scalars().all()
    assert len(kids) == 2
    expect(page.locator("#fact-code")).to_have_text(kids[0])
    expect(page.locator("#panel-history")).to_contain_text(f"Hình thành từ: {code}")
    # the map asks for its tiles again, with the registration's seq, and draws the children
    map_ready(page)
    page.wait_for_function(f"() => {{ const c = ({SHOWN})(); return {json.dumps(kids)}.every(k => c.includes(k)); }}")
    assert code not in page.evaluate(SHOWN)
    assert any(f"v={seq}" in u for u in requests), requests[:5]
    shot(page, "form-split-registered")
    extract = page.request.get(done.get_by_role("link", name="In trích lục mới (PDF)").get_attribute("href"))
    assert extract.ok and extract.headers["content-type"] == "application/pdf"
    journal_ok(web_database_url)


def test_merge_of_neighbours_picked_on_the_map(page, accounts, web_engine, db, web_database_url):
    x, y = cell()
    owners = [dict(person(next(_people)), share=1)]
    a = register(web_engine, x, y, w=10, holders=owners)
    b = register(web_engine, x + 10, y, w=10, holders=owners)  # shares a 10 m side with a
    apart = register(web_engine, x + 25, y, w=10, holders=owners)  # 5 m away
    sign_in(page, "officer1")
    open_form(page, a, "Hợp thửa")
    picked = page.get_by_role("list", name="Các thửa đã chọn")
    expect(picked.get_by_role("listitem")).to_have_count(1)
    click_map(page, x + 15, y + 5)
    expect(picked.get_by_role("listitem")).to_have_count(2)
    expect(picked).to_contain_text(b)
    expect(page.locator("#merge-total")).to_contain_text("200.00 m²")
    click_map(page, x + 30, y + 5)  # not a neighbour: refused before anything is sent
    expect(page.locator("#err-parcels")).to_contain_text(f"Thửa {apart} không liền kề với các thửa đã chọn")
    expect(picked.get_by_role("listitem")).to_have_count(2)
    assert page.locator("#map-tools").get_attribute("data-shown") == "2"
    shot(page, "form-merge-refused")
    page.get_by_label("Số seri").fill(serial("HT"))
    page.get_by_role("button", name="Xem trước").click()
    expect(page.get_by_role("region", name="Xem trước: những gì sẽ thay đổi")).to_contain_text(f"thửa {b}")
    requests = tile_requests(page)
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    done = page.get_by_role("status", name="Kết quả đăng ký")
    expect(done).to_contain_text("Đã đăng ký Hợp thửa")
    merged = page.locator("#fact-code").inner_text()
    assert merged not in (a, b)
    expect(page.locator("#panel-history")).to_contain_text(f"Hình thành từ: {a}")
    expect(page.locator("#panel-history")).to_contain_text(b)
    assert [k for _, k, _ in journal_rows(db, b)] == ["first_registration", "merge"]
    assert [k for _, k, _ in journal_rows(db, apart)] == ["first_registration"]
    map_ready(page)
    page.wait_for_function(f"() => ({SHOWN})().includes({json.dumps(merged)})")
    assert a not in page.evaluate(SHOWN) and any("v=" in u for u in requests)
    shot(page, "form-merge-registered")
    journal_ok(web_database_url)


def test_merge_refused_by_the_register_shows_its_reason(page, accounts, web_engine, db):
    x, y = cell()
    a = register(web_engine, x, y, w=10)
    b = register(web_engine, x + 10, y, w=10)  # a neighbour with other holders
    sign_in(page, "officer1")
    open_form(page, a, "Hợp thửa")
    page.get_by_label("Thêm thửa theo mã").fill(b)  # the form without the map: by code
    page.get_by_role("button", name="Thêm", exact=True).click()
    expect(page.get_by_role("list", name="Các thửa đã chọn")).to_contain_text(b)
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator("#err-parcels")).to_contain_text("Các thửa hợp phải có cùng người sử dụng với cùng phần")
    expect(page.get_by_role("button", name="Xác nhận đăng ký")).to_have_count(0)
    shot(page, "form-merge-holders")
    assert [k for _, k, _ in journal_rows(db, a)] == ["first_registration"]
    # cancelled: the card comes back in the panel and a click on the map opens a card again
    page.get_by_role("link", name="Hủy").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(a)
    map_ready(page)
    click_map(page, x + 15, y + 5)
    expect(page.get_by_role("heading", level=1)).to_contain_text(b)
    assert page.evaluate("landdb.map.queryRenderedFeatures({layers: ['draft-fill']}).length") == 0


def test_certificate_reissue(page, accounts, web_engine, db):
    x, y = cell()
    code = register(web_engine, x, y)
    old = db.execute(text("SELECT DISTINCT c.serial FROM rights r JOIN certificates c ON c.id = r.certificate_id "
                          "JOIN parcels p ON p.id = r.parcel_id WHERE p.parcel_code = :c"), {"c": code}).scalar_one()
    new = serial("CL")
    sign_in(page, "officer1")
    page.goto(f"/parcel/{code}")
    page.get_by_role("link", name="Cấp đổi, cấp lại giấy chứng nhận").click()
    expect(page.get_by_role("group", name="Giấy chứng nhận mới")).to_contain_text(old)
    page.get_by_label("Số seri").fill(old)  # already issued: refused next to the field
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator("#err-certificate")).to_contain_text("đã được cấp cho một giấy chứng nhận khác")
    page.get_by_label("Số seri").fill(new)
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator(".preview-opened")).to_contain_text(new)
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("Đã đăng ký Cấp lại giấy chứng nhận")
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("phiên bản 2")
    page.get_by_role("tab", name="Giấy chứng nhận và thế chấp").click()
    expect(page.locator("#panel-certificates .serial")).to_have_text([new])
    assert [k for _, k, _ in journal_rows(db, code)] == ["first_registration", "certificate_reissue"]


def test_geometry_correction_edited_drawn_then_uploaded(page, accounts, web_engine, db, tmp_path, web_database_url):
    x, y = cell()
    code = register(web_engine, x, y)
    sign_in(page, "officer1")
    open_form(page, code, "Chỉnh lý hình thể")
    # the current boundary edited vertex by vertex: the NE corner dragged 2 m north
    page.get_by_role("button", name="Sửa các đỉnh").click()
    page.wait_for_selector("#map-tools[data-vertices='4']")
    expect(page.locator("#new-area")).to_have_text("200.00 m²")
    box = page.locator("#map canvas").bounding_box()
    (ax, ay), (bx, by) = [page.evaluate("([lon, lat]) => { const p = landdb.map.project([lon, lat]); return [p.x, p.y]; }",
                                        list(TO_WGS84.transform(*pt))) for pt in ((x + 20, y + 10), (x + 20, y + 12))]
    page.mouse.move(box["x"] + ax, box["y"] + ay)
    page.mouse.down()
    page.mouse.move(box["x"] + bx, box["y"] + by, steps=8)
    page.mouse.up()
    expect(page.locator("#new-area")).not_to_have_text("200.00 m²")
    dragged = float(page.locator("#new-area").inner_text().split()[0])
    assert dragged == pytest.approx(220, abs=3)
    kept = json.loads(page.locator("input[name=geometry]").input_value())["coordinates"][0][0]
    assert [x, y] in kept and [x + 20, y] in kept and [x, y + 10] in kept  # the others not moved by a bit
    shot(page, "form-correction-edit")
    # drawn on the map: a boundary measured in VN-2000 as soon as it has three corners
    before = page.locator("#new-area").inner_text()
    page.get_by_role("button", name="Vẽ ranh giới mới").click()
    for px, py in ((x, y), (x + 20, y), (x + 20, y + 10)):
        click_map(page, px, py)
    expect(page.locator("#new-area")).not_to_have_text(before)
    drawn = float(page.locator("#new-area").inner_text().split()[0])
    assert drawn == pytest.approx(100, abs=3)  # half the parcel, to a pixel of each click
    expect(page.locator("#old-area")).to_have_text("200.00 m²")
    # the surveyed boundary from a file (VN-2000 metres, no crs member, as survey software writes it)
    survey = tmp_path / "do-dac.geojson"
    survey.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": rect(x, y, 20, 10.5)}]}))
    page.get_by_label("Hoặc tải lên tệp").set_input_files(str(survey))
    expect(page.locator("#new-area")).to_have_text("210.00 m²")
    expect(page.locator("#diff-area")).to_have_text("+10.00 m²")
    shot(page, "form-correction")
    page.get_by_label("Diện tích pháp lý mới").fill("210")
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator(".preview-opened")).to_contain_text("210.0 m²")
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("Đã đăng ký Chỉnh lý hình thể")
    expect(page.locator("#fact-legal-area")).to_have_text("210.0 m²")
    area = db.execute(text("SELECT ST_Area(v.geom) FROM parcel_versions v JOIN parcels p ON p.id = v.parcel_id "
                           "WHERE p.parcel_code = :c AND v.valid_to IS NULL"), {"c": code}).scalar_one()
    assert area == pytest.approx(210, abs=0.01)
    journal_ok(web_database_url)


def test_draft_endpoint_refuses_viewers_and_bad_files(page, accounts, web_engine, web_server):
    x, y = cell()
    code = register(web_engine, x, y)
    sign_in(page, "officer1")
    page.goto(f"/parcel/{code}/register/split")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    url = f"{web_server}/parcel/{code}/register/split/draft"
    bad = page.request.post(url, multipart={"csrf_token": token, "file": {
        "name": "x.txt", "mimeType": "text/plain", "buffer": b"hello"}})
    assert bad.status == 422 and "Tệp phải là GeoJSON" in bad.text()
    missed = page.request.post(url, form={"csrf_token": token, "line": json.dumps(
        {"type": "LineString", "coordinates": [list(TO_WGS84.transform(x + 5, y + 2)), list(TO_WGS84.transform(x + 6, y + 3))]})})
    assert missed.status == 422 and "Đường vẽ chưa cắt qua thửa đất" in missed.text()
    page.get_by_role("button", name="Đăng xuất").click()
    sign_in(page, "viewer1")
    page.goto(f"/parcel/{code}")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert page.request.post(url, form={"csrf_token": token, "line": "{}"}).status == 403
