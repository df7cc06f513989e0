"""The web application in a real browser (Playwright on Debian's chromium): sign-in, the search
box, the card, the map, "as of", what the public sees, the access log, the extract. (Keyboard,
tablet and axe-core checks: test_accessibility.py.)"""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from landdb.lookup import fold

from ..factories import TRANSFERRED
from .conftest import CSRF, PASSWORD, shot, sign_in, wait_map


def a_parcel(db):
    """A current parcel with a national ID, a numbered address and a certificate."""
    return db.execute(text(r"""
        SELECT p.id, p.parcel_code, p.ward_code, p.sheet_no, p.parcel_no, p.national_id, v.address, c.serial
          FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to IS NULL
          JOIN rights r ON r.parcel_id = p.id AND r.valid_to IS NULL AND r.kind = 'land_use_right'
          JOIN certificates c ON c.id = r.certificate_id
         WHERE p.retired_on IS NULL AND p.national_id IS NOT NULL AND v.address ~ '^Số [0-9]+, '
         ORDER BY p.parcel_code LIMIT 1""")).one()


def holders(db, parcel_id: int) -> list[str]:
    """The names and ID numbers of everyone with a right (or mortgage) on the parcel, ever."""
    rows = db.execute(text("""SELECT DISTINCT q.full_name, q.id_number FROM rights r JOIN parties q ON q.id = r.party_id
                               WHERE r.parcel_id = :id"""), {"id": parcel_id}).all()
    return [v for r in rows for v in r if v]


def pdf_text(body: bytes) -> str:
    return subprocess.run(["pdftotext", "-layout", "-", "-"], input=body, capture_output=True, check=True).stdout.decode()


def card_heading(page, code: str):
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(re.escape(code)))


def search(page, q: str, ward: str | None = None) -> None:
    page.get_by_label("Tìm thửa đất").fill(q)
    if ward:
        page.get_by_label("Phường/xã").select_option(ward)
    page.get_by_role("button", name="Tìm", exact=True).click()


def open_result(page, code: str) -> None:
    """Open the card of `code` from a result list (or see it opened directly)."""
    page.wait_for_selector(f"h1:has-text('{code}'), h1:has-text('Kết quả tìm kiếm')")
    if code not in page.get_by_role("heading", level=1).inner_text():
        page.locator("#panel").get_by_role("link", name=re.compile(re.escape(code))).first.click()
    card_heading(page, code)


# --- sign-in ---------------------------------------------------------------------------------------


def test_sign_in_wrong_password_and_sign_out(page):
    sign_in(page, "officer1", "wrong password!")
    expect(page.get_by_role("alert")).to_contain_text("Sai tên đăng nhập hoặc mật khẩu")
    shot(page, "sign-in-refused")
    sign_in(page, "officer1")
    expect(page.get_by_role("navigation", name="Tài khoản")).to_contain_text("Nguyễn Thị Officer")
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("link", name="Đăng nhập")).to_be_visible()


def test_lock_after_repeated_failures(page, web_engine):
    from sqlalchemy.orm import Session

    from landdb import users

    with Session(web_engine) as s, s.begin():
        users.create_user(s, "locked.officer", "officer", PASSWORD)
    sign_in(page, "locked.officer", "wrong password!")
    expect(page.get_by_role("alert")).to_contain_text("Sai tên đăng nhập")
    for _ in range(users.MAX_FAILURES - 1):  # the same form posted again, without the page around it
        token = CSRF.search(page.request.get("/sign-in").text()).group(1)
        resp = page.request.post("/sign-in", form={"username": "locked.officer", "password": "wrong password!",
                                                   "csrf_token": token})
        assert resp.status == 401
    sign_in(page, "locked.officer")  # the right password, too late
    expect(page.get_by_role("alert")).to_contain_text("Tài khoản tạm khóa")
    shot(page, "sign-in-locked")


# --- search → card -----------------------------------------------------------------------------------


def test_search_by_parcel_code(page, db):
    p = a_parcel(db)
    page.goto("/")
    search(page, p.parcel_code)
    card_heading(page, p.parcel_code)
    expect(page.locator("#fact-address")).to_have_text(p.address)
    shot(page, "card")


def test_search_by_sheet_and_number_with_ward(page, db):
    p = a_parcel(db)
    page.goto("/")
    search(page, f"tờ {p.sheet_no} thửa {p.parcel_no}", ward=p.ward_code)
    card_heading(page, p.parcel_code)


def test_search_by_sheet_and_number_without_ward_asks_for_one(page, db):
    p = a_parcel(db)
    wards = db.execute(text("SELECT count(DISTINCT ward_code) FROM parcels WHERE sheet_no = :s AND parcel_no = :n"
                            " AND retired_on IS NULL"), {"s": p.sheet_no, "n": p.parcel_no}).scalar()
    assert wards > 1  # the sample has the same sheet and number in several wards
    page.goto("/")
    search(page, f"to {p.sheet_no} thua {p.parcel_no}")
    expect(page.locator("#panel").get_by_role("status").first).to_contain_text("Hãy chọn phường/xã")
    shot(page, "search-ambiguous")
    open_result(page, p.parcel_code)


def test_search_by_address_without_diacritics(page, db):
    p = a_parcel(db)
    number = re.match(r"Số (\d+), ([^,]+)", p.address)
    q = f"{fold(number.group(2))} {number.group(1)}"  # e.g. "pho hong ngoc 46"
    page.goto("/")
    search(page, q)
    open_result(page, p.parcel_code)


def test_search_by_certificate_serial(page, db):
    p = a_parcel(db)
    page.goto("/")
    search(page, p.serial.replace(" ", ""))
    open_result(page, p.parcel_code)


def test_search_by_national_id(page, db):
    p = a_parcel(db)
    page.goto("/")
    search(page, p.national_id)
    card_heading(page, p.parcel_code)


def test_search_nothing_found_says_what_to_try(page):
    page.goto("/")
    search(page, "99999-1-1")
    expect(page.locator("#panel").get_by_role("status")).to_contain_text("Không có thửa 99999-1-1")
    search(page, "zzz khong co dia chi nao")
    expect(page.locator("#panel").get_by_role("status")).to_contain_text("Không tìm thấy địa chỉ")
    shot(page, "search-empty")


@pytest.mark.parametrize("by", ["name", "id_number"])
def test_officer_searches_by_owner(page, db, by):
    owner = db.execute(text("""SELECT q.full_name, q.id_number, p.parcel_code FROM rights r
                                JOIN parties q ON q.id = r.party_id JOIN parcels p ON p.id = r.parcel_id
                                WHERE r.valid_to IS NULL AND r.kind = 'land_use_right' AND q.kind = 'individual'
                                  AND q.id_number ~ '^[0-9]{12}$' AND p.retired_on IS NULL
                                ORDER BY q.id LIMIT 1""")).one()
    sign_in(page, "officer1")
    search(page, fold(owner.full_name) if by == "name" else owner.id_number)
    expect(page.locator("#panel")).to_contain_text(owner.full_name)
    if by == "name":
        shot(page, "search-owner")
    open_result(page, owner.parcel_code)


# --- the map ------------------------------------------------------------------------------------------


def map_ready(page) -> None:
    wait_map(page)
    page.wait_for_function("landdb.map.loaded() && !landdb.map.isMoving()"
                           " && document.querySelector('#map').dataset.ready === 'true'")


def click_map_at(page, lon: float, lat: float) -> None:
    x, y = page.evaluate("([lon, lat]) => { const p = landdb.map.project([lon, lat]); return [p.x, p.y]; }", [lon, lat])
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def record_requests(page) -> list[str]:
    """Paths (with query) of every request the page makes from now on."""
    seen: list[str] = []
    page.on("request", lambda req: seen.append(re.sub(r"^https?://[^/]+", "", req.url)))
    return seen


TILES = re.compile(r"^/ogc/collections/parcels/tiles/WebMercatorQuad/(\d+)/\d+/\d+")


def rendered_codes(page) -> set[str]:
    return set(page.evaluate("""() => landdb.map.queryRenderedFeatures({layers: ['parcels-fill']})
        .map(f => f.properties.parcel_code).filter(Boolean)"""))


def test_click_on_the_map_opens_the_card(page, db):
    p = a_parcel(db)
    requests = record_requests(page)
    neighbour = db.execute(text("""
        SELECT n.parcel_code, ST_X(pt) AS lon, ST_Y(pt) AS lat FROM parcel_versions a
          JOIN parcel_versions b ON b.valid_to IS NULL AND b.parcel_id <> a.parcel_id AND ST_DWithin(a.geom, b.geom, 1)
          JOIN parcels n ON n.id = b.parcel_id,
          LATERAL ST_Transform(ST_PointOnSurface(b.geom), 4326) pt
         WHERE a.parcel_id = :id AND a.valid_to IS NULL ORDER BY n.parcel_code LIMIT 1"""), {"id": p.id}).one()
    page.goto(f"/parcel/{p.parcel_code}")
    map_ready(page)
    shot(page, "map")
    # drawn from the vector tiles (parcel codes from z15 on), nothing else
    assert page.evaluate("landdb.map.getSource('parcels').type") == "vector"
    assert any(int(m.group(1)) >= 15 for m in map(TILES.match, requests) if m)
    assert neighbour.parcel_code in rendered_codes(page)
    click_map_at(page, neighbour.lon, neighbour.lat)
    card_heading(page, neighbour.parcel_code)
    assert page.url.endswith(f"/parcel/{neighbour.parcel_code}")
    # the code came from the tile under the pointer: the server was not asked what is there
    assert page.evaluate("landdb.lastClick") == "tiles"
    assert not [r for r in requests if r.startswith(("/parcel-at", "/api/v1/parcels", "/api/v1/wards"))]


def test_map_draws_ward_boundaries_and_names(page, db):
    p = a_parcel(db)
    here = db.execute(text("""
        SELECT u.name, ST_X(pt) AS lon, ST_Y(pt) AS lat FROM parcel_versions v,
               LATERAL ST_Transform(ST_PointOnSurface(v.geom), 4326) pt
          JOIN admin_units u ON u.level IN ('ward', 'commune') AND u.valid_to IS NULL
                            AND ST_Contains(u.geom_4326, pt)
         WHERE v.parcel_id = :id AND v.valid_to IS NULL"""), {"id": p.id}).one()
    names = set(db.execute(text("SELECT name FROM admin_units WHERE level IN ('ward', 'commune')")).scalars())
    requests = record_requests(page)
    page.goto("/")
    map_ready(page)
    page.evaluate("([lon, lat]) => landdb.map.jumpTo({center: [lon, lat], zoom: 12.5})", [here.lon, here.lat])
    map_ready(page)
    assert page.evaluate("landdb.map.queryRenderedFeatures({layers: ['wards-outline']}).length") > 0
    labels = set(page.evaluate("landdb.map.queryRenderedFeatures({layers: ['wards-label']}).map(f => f.properties.name)"))
    assert here.name in labels and labels <= names
    assert any(r.startswith("/ogc/collections/wards/tiles/WebMercatorQuad/") for r in requests)
    expect(page.locator("#map")).to_have_class(re.compile("zoom-hint"))  # parcels are drawn from z14 on
    shot(page, "map-wards")


def test_pointer_coordinates_in_vn2000_and_wgs84(page, db):
    from pyproj import Transformer

    p = a_parcel(db)
    page.goto(f"/parcel/{p.parcel_code}")
    map_ready(page)
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + 300, box["y"] + 200)
    vn = page.locator("#coord-vn2000")
    expect(vn).to_contain_text("E ")
    e, n = float(vn.get_attribute("data-e")), float(vn.get_attribute("data-n"))
    lon = float(page.locator("#coord-wgs84").get_attribute("data-lon"))
    lat = float(page.locator("#coord-wgs84").get_attribute("data-lat"))
    want_e, want_n = Transformer.from_crs(4326, 5899, always_xy=True).transform(lon, lat)
    assert abs(e - want_e) < 0.05 and abs(n - want_n) < 0.05  # proj4js agrees with PROJ
    assert 400_000 < e < 460_000 and 2_300_000 < n < 2_360_000


def test_as_of_date_changes_the_map_and_the_card(page, db):
    split = db.execute(text("""
        SELECT p.parcel_code, p.retired_on, ST_X(pt) AS lon, ST_Y(pt) AS lat FROM parcels p
          JOIN parcel_lineage l ON l.parent_id = p.id AND l.kind = 'split'
          JOIN parcel_versions v ON v.parcel_id = p.id AND v.valid_to = p.retired_on,
          LATERAL ST_Transform(ST_PointOnSurface(v.geom), 4326) pt
         WHERE p.retired_on IS NOT NULL ORDER BY p.parcel_code LIMIT 1""")).one()
    before = split.retired_on - dt.timedelta(days=1)
    children = set(db.execute(text("""SELECT c.parcel_code FROM parcel_lineage l JOIN parcels c ON c.id = l.child_id
                                       JOIN parcels p ON p.id = l.parent_id WHERE p.parcel_code = :code
                                        AND c.retired_on IS NULL"""), {"code": split.parcel_code}).scalars())
    requests = record_requests(page)
    page.goto(f"/parcel/{split.parcel_code}")
    expect(page.locator("#fact-status")).to_contain_text("Đã ngừng")
    map_ready(page)
    today = rendered_codes(page)
    assert split.parcel_code not in today and children and children <= today
    page.get_by_label("Tại ngày").fill(before.isoformat())
    requests.clear()
    page.get_by_role("button", name="Xem", exact=True).click()
    expect(page.locator("#fact-status")).to_contain_text("Đang sử dụng")
    expect(page.locator("#panel")).to_contain_text(f"Theo hiện trạng ngày {before.isoformat()}")
    page.wait_for_function("(d) => document.querySelector('#map').dataset.parcelsAt === d", arg=before.isoformat())
    map_ready(page)
    then = rendered_codes(page)
    # the parent is drawn, its children (made by the split) are not: they did not exist yet
    assert split.parcel_code in then and not children & then
    tiles = [r for r in requests if TILES.match(r)]
    assert tiles and all(f"at={before.isoformat()}" in r for r in tiles)
    assert f"at={before.isoformat()}" in page.url
    shot(page, "as-of")


def test_rights_tab_follows_the_as_of_date(page, db):
    t = db.execute(text(TRANSFERRED)).one()
    before = t.day - dt.timedelta(days=1)
    sign_in(page, "officer1")
    page.goto(f"/parcel/{t.parcel_code}")
    page.get_by_role("tab", name="Quyền và chủ sử dụng").click()
    rights = page.locator("#panel-rights")
    expect(rights).to_contain_text(t.new_holder)
    expect(rights).not_to_contain_text(t.old_holder)
    page.get_by_label("Tại ngày").fill(before.isoformat())
    page.get_by_role("button", name="Xem", exact=True).click()
    expect(page.locator("#panel")).to_contain_text(f"Theo hiện trạng ngày {before.isoformat()}")
    page.get_by_role("tab", name="Quyền và chủ sử dụng").click()
    expect(rights).to_contain_text(f"Quyền có hiệu lực ngày {before.isoformat()}")
    expect(rights).to_contain_text(t.old_holder)
    expect(rights).not_to_contain_text(t.new_holder)
    shot(page, "card-rights-as-of")
    # the extract for that day names the holder of that day too
    pdf = pdf_text(page.request.get(f"/parcel/{t.parcel_code}/extract.pdf?at={before.isoformat()}").body())
    assert t.old_holder in pdf and t.new_holder not in pdf


# --- personal data ---------------------------------------------------------------------------------


def test_public_visitor_sees_no_owner_anywhere(page, db):
    p = a_parcel(db)
    names = holders(db, p.id)
    assert names
    seen = []
    page.goto(f"/parcel/{p.parcel_code}")
    for tab in ("Lịch sử", "Quyền và chủ sử dụng", "Giấy chứng nhận và thế chấp"):
        page.get_by_role("tab", name=tab).click()
        seen.append(page.content())
    expect(page.get_by_role("tabpanel")).to_contain_text("Giấy chứng nhận và thế chấp chỉ dành cho người đã đăng nhập")
    for q in (*names[:2], p.parcel_code, fold(p.address)):
        page.goto("/")
        search(page, q)
        page.wait_for_selector("h1")
        # the panel without the echo of what was typed
        seen.append(page.evaluate("""() => { const c = document.querySelector('#panel').cloneNode(true);
            c.querySelectorAll('.understood').forEach(e => e.remove());
            c.querySelectorAll('[data-title]').forEach(e => e.removeAttribute('data-title'));
            return c.innerHTML; }"""))
    pdf = page.request.get(f"/parcel/{p.parcel_code}/extract.pdf")
    assert pdf.ok
    seen.append(pdf_text(pdf.body()))
    for html in seen:
        for value in names:
            assert value not in html


def test_officer_owner_view_is_access_logged_with_user_id(page, db, accounts):
    p = a_parcel(db)
    start = db.execute(text("SELECT coalesce(max(id), 0) FROM personal_data_access_log")).scalar()
    sign_in(page, "officer1")
    page.goto(f"/parcel/{p.parcel_code}")
    page.get_by_role("tab", name="Quyền và chủ sử dụng").click()
    current = db.execute(text("""SELECT q.full_name FROM rights r JOIN parties q ON q.id = r.party_id
                                  WHERE r.parcel_id = :id AND r.valid_to IS NULL AND r.kind <> 'mortgage'"""),
                         {"id": p.id}).scalars().first()
    expect(page.locator("#panel-rights")).to_contain_text(current)
    shot(page, "card-officer")
    db.commit()  # a fresh snapshot
    rows = db.execute(text("SELECT user_id, api_key_id, role, endpoint, parcel_ids, party_ids FROM personal_data_access_log"
                           " WHERE id > :start"), {"start": start}).all()
    mine = [r for r in rows if p.id in r.parcel_ids]
    assert mine and mine[0].user_id == accounts["officer"] and mine[0].api_key_id is None
    assert mine[0].role == "officer" and mine[0].party_ids


def test_viewer_sees_rights_without_owners(page, db):
    p = a_parcel(db)
    sign_in(page, "viewer1")
    page.goto(f"/parcel/{p.parcel_code}")
    page.get_by_role("tab", name="Giấy chứng nhận và thế chấp").click()
    expect(page.locator("#panel-certificates")).to_contain_text(p.serial)
    html = page.content()
    for value in holders(db, p.id):
        assert value not in html


def test_post_without_csrf_token_is_refused(page):
    resp = page.request.post("/sign-out", form={"x": "1"})
    assert resp.status == 400
    resp = page.request.post("/sign-in", form={"username": "officer1", "password": PASSWORD})
    assert resp.status == 400


# --- the extract ------------------------------------------------------------------------------------


def qr_codes(pdf: bytes, tmp_path) -> list[str]:
    """The texts of the QR codes on the PDF's pages (rendered by poppler, read by zxing-cpp)."""
    import zxingcpp
    from PIL import Image

    (tmp_path / "x.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", str(tmp_path / "x.pdf"), str(tmp_path / "page")], check=True)
    found = []
    for png in sorted(tmp_path.glob("page*.png")):
        found += [b.text for b in zxingcpp.read_barcodes(Image.open(png)) if b.format == zxingcpp.BarcodeFormat.QRCode]
    return found


def test_extract_pdf_holds_code_area_coordinates_and_a_verifiable_qr(page, db, tmp_path):
    p = a_parcel(db)
    legal, points = db.execute(text("""
        SELECT v.legal_area_m2, array_agg(ARRAY[ST_X(d.geom), ST_Y(d.geom)] ORDER BY d.path)
          FROM parcel_versions v, LATERAL ST_DumpPoints(v.geom) d
         WHERE v.parcel_id = :id AND v.valid_to IS NULL GROUP BY v.legal_area_m2"""), {"id": p.id}).one()
    resp = page.request.get(f"/parcel/{p.parcel_code}/extract.pdf")
    assert resp.ok and resp.headers["content-type"] == "application/pdf"
    body = resp.body()
    (ARTIFACTS_DIR := shot.__globals__["ARTIFACTS"]).mkdir(parents=True, exist_ok=True)
    (ARTIFACTS_DIR / "extract.pdf").write_bytes(body)
    txt = pdf_text(body)
    assert p.parcel_code in txt and "TRÍCH LỤC THỬA ĐẤT" in txt
    assert f"{float(legal):.1f} m²" in txt
    for e, n in points:  # every vertex, X northing and Y easting
        assert f"{n:.2f}" in txt and f"{e:.2f}" in txt
    urls = qr_codes(body, tmp_path)
    assert len(urls) == 1 and "/verify/" + p.parcel_code in urls[0]
    page.goto(urls[0])
    expect(page.locator("#verify-result")).to_have_attribute("data-ok", "true")
    assert page.request.get(urls[0]).status == 200
    shot(page, "verify")
    forged = re.sub(r"hash=([0-9a-f])", lambda m: "hash=" + ("0" if m.group(1) != "0" else "1"), urls[0])
    assert page.request.get(forged).status == 409
    subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile",
                    str(tmp_path / "x.pdf"), str(ARTIFACTS_DIR / "extract")], check=True)


def test_english_is_one_click_away(page, db):
    p = a_parcel(db)
    page.goto(f"/parcel/{p.parcel_code}")
    page.get_by_role("button", name="English").click()
    card_heading(page, f"Parcel {p.parcel_code}")
    expect(page.get_by_role("tab", name="Rights and holders")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "card-english")
    page.get_by_role("button", name="Tiếng Việt").click()
    card_heading(page, f"Thửa đất {p.parcel_code}")


def test_officer_extract_lists_holders_and_is_access_logged(page, db, accounts):
    p = a_parcel(db)
    holder = db.execute(text("""SELECT q.full_name FROM rights r JOIN parties q ON q.id = r.party_id
                                 WHERE r.parcel_id = :id AND r.valid_to IS NULL AND r.kind <> 'mortgage'
                                 ORDER BY q.id LIMIT 1"""), {"id": p.id}).scalar_one()
    start = db.execute(text("SELECT coalesce(max(id), 0) FROM personal_data_access_log")).scalar()
    sign_in(page, "officer1")
    resp = page.request.get(f"/parcel/{p.parcel_code}/extract.pdf")
    assert resp.ok
    assert holder in pdf_text(resp.body())
    db.commit()
    logged = db.execute(text("SELECT user_id, endpoint FROM personal_data_access_log WHERE id > :s AND :pid = ANY(parcel_ids)"),
                        {"s": start, "pid": p.id}).all()
    assert ("GET /parcel/{code}/extract.pdf" in {e for _u, e in logged}
            and {u for u, _e in logged} == {accounts["officer"]})
