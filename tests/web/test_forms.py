"""Registering changes from the parcel card in a real browser (Playwright on Debian's chromium):
a transfer end to end, a stale form, a double submit, an invalid share sum, mortgage, release
and land-use change, and a viewer who sees no forms and whose POST is refused."""

from __future__ import annotations

import itertools
import re

import pytest
from click.testing import CliRunner
from playwright.sync_api import expect
from sqlalchemy import text
from sqlalchemy.orm import Session

from landdb import registry
from landdb.cli import main

from ..registry_helpers import X0, Y0, first_registration_body, person, serial
from .conftest import CSRF, shot, sign_in

_cells = itertools.count()
_people = itertools.count(9100)


def journal_rows(db, code: str) -> list[tuple[int, str, str]]:
    """(seq, kind, hash) of every journal row that touched parcel `code`, in order."""
    db.rollback()  # a fresh snapshot: the server committed in between
    return [tuple(r) for r in db.execute(text(
        "SELECT t.seq, t.kind, t.hash FROM transactions t WHERE t.id IN (SELECT tp.transaction_id FROM "
        "transaction_parcels tp JOIN parcels p ON p.id = tp.parcel_id WHERE p.parcel_code = :c) ORDER BY t.seq"),
        {"c": code}).all()]


@pytest.fixture
def parcel(web_engine):
    """A parcel of its own, committed in the web database: two holders with half each.
    Returns (code, holder A, holder B) — the holders as person() dicts."""
    n = next(_cells)
    a, b = person(next(_people), "Trần Văn Bán"), person(next(_people), "Lê Thị Giữ")
    body = first_registration_body(X0 + 1000 + 30 * (n % 20), Y0 + 600 + 30 * (n // 20), w=20, sheet=760,
                                   holders=[dict(a, share=0.5), dict(b, share=0.5)])
    with Session(web_engine) as s, s.begin():
        answer, _ = registry.register(s, body, actor="test:forms")
    return answer["opened"]["parcels"][0], a, b


def open_transfer(page, code: str) -> None:
    page.goto(f"/parcel/{code}")
    page.get_by_role("navigation", name="Đăng ký biến động").get_by_role(
        "link", name="Chuyển nhượng, thừa kế, tặng cho").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Chuyển nhượng, thừa kế, tặng cho")


def fill_transfer(page, seller: dict, buyers: list[tuple[str, str]], cert: str | None = None) -> None:
    """Tick `seller` as transferor and give each buyer (name, share) a row."""
    page.get_by_label(re.compile(re.escape(seller["full_name"]))).check()
    for i, (name, share) in enumerate(buyers):
        if i:
            page.get_by_role("button", name="Thêm bên nhận").click()
        page.get_by_label(f"Số định danh (CCCD) hoặc số đăng ký {i + 1}").fill(person(next(_people))["id_number"])
        page.get_by_label(f"Họ tên (người mới) {i + 1}").fill(name)
        page.get_by_label(f"Năm sinh {i + 1}").fill("1990")
        page.get_by_label(f"Phần của bên nhận {i + 1}").fill(share)
    page.get_by_label("Số seri").fill(cert or serial("CT"))


def test_transfer_end_to_end(page, accounts, parcel, db, web_database_url):
    code, seller, keeper = parcel
    sign_in(page, "officer1")
    open_transfer(page, code)
    fill_transfer(page, seller, [("Phạm Văn Mua", "0,5")])
    page.get_by_role("button", name="Xem trước").click()
    preview = page.get_by_role("region", name="Xem trước: những gì sẽ thay đổi")
    expect(preview).to_contain_text("Phạm Văn Mua")
    expect(preview).to_contain_text("Phiên bản 2")
    shot(page, "form-transfer-preview")
    assert len(journal_rows(db, code)) == 1  # the preview wrote nothing

    page.get_by_role("button", name="Xác nhận đăng ký").click()
    done = page.get_by_role("status", name="Kết quả đăng ký")
    expect(done).to_contain_text("Đã đăng ký Chuyển nhượng")
    expect(done).to_contain_text("phiên bản 2")
    shot(page, "form-transfer-registered")
    rows = journal_rows(db, code)
    assert [k for _, k, _ in rows] == ["first_registration", "transfer"]
    seq, _kind, hash_ = rows[-1]
    expect(done.locator(".seq")).to_have_text(str(seq))
    expect(done.locator(".hash")).to_have_text(hash_)
    extract = page.request.get(done.get_by_role("link", name="In trích lục mới (PDF)").get_attribute("href"))
    assert extract.ok and extract.headers["content-type"] == "application/pdf"
    # the card's history shows it, and the rights its new holders
    expect(page.locator("#panel-history")).to_contain_text(f"seq {seq}")
    owners = db.execute(text("SELECT q.full_name, r.share FROM rights r JOIN parties q ON q.id = r.party_id "
                             "JOIN parcels p ON p.id = r.parcel_id WHERE p.parcel_code = :c AND r.valid_to IS NULL "
                             "AND r.kind = 'land_use_right' ORDER BY q.full_name"), {"c": code}).all()
    assert [(n, float(s)) for n, s in owners] == [(keeper["full_name"], 0.5), ("Phạm Văn Mua", 0.5)]
    verified = CliRunner().invoke(main, ["journal", "verify"], env={"DATABASE_URL": web_database_url})
    assert verified.exit_code == 0, verified.output
    assert "journal ok" in verified.output

    # the day's list has it, under its filters, linking to the transaction
    page.get_by_role("link", name="Biến động đã đăng ký hôm nay").click()
    table = page.get_by_role("table")
    expect(table.get_by_role("link", name=str(seq), exact=True)).to_be_visible()
    page.get_by_label("Loại biến động").select_option("mortgage")
    page.get_by_label("Cán bộ (tên đăng nhập)").fill("officer1")
    page.get_by_role("button", name="Lọc").click()
    expect(page.get_by_role("link", name=str(seq), exact=True)).to_have_count(0)
    page.get_by_label("Loại biến động").select_option("transfer")
    page.get_by_label("Phường/xã", exact=True).last.select_option(code[:5])
    page.get_by_role("button", name="Lọc").click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=str(seq), exact=True))
    expect(row).to_contain_text(code)
    expect(row).to_contain_text("officer1")
    shot(page, "form-registrations")
    tx = page.request.get(row.get_by_role("link", name=str(seq), exact=True).get_attribute("href"))
    assert tx.json()["hash"] == hash_


def test_stale_form_says_the_parcel_changed_and_writes_nothing(page, accounts, parcel, db, web_engine):
    code, seller, _keeper = parcel
    sign_in(page, "officer1")
    open_transfer(page, code)
    fill_transfer(page, seller, [("Đỗ Văn Chậm", "0.5")])
    page.get_by_role("button", name="Xem trước").click()
    expect(page.get_by_role("button", name="Xác nhận đăng ký")).to_be_visible()
    # another officer registers a change of the same parcel in between
    with Session(web_engine) as s, s.begin():
        registry.register(s, {"kind": "land_use_change", "parcel": code, "expected_version": 1,
                              "effective_date": "2024-05-01", "land_use": "TMD"}, actor="test:other")
    before = journal_rows(db, code)
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    alert = page.locator("#conflict")
    expect(alert).to_contain_text("Thửa đất đã thay đổi kể từ khi bạn mở biểu mẫu")
    expect(alert).to_contain_text("phiên bản 2")
    shot(page, "form-conflict")
    assert journal_rows(db, code) == before
    assert [k for _, k, _ in before] == ["first_registration", "land_use_change"]
    # reload: a fresh form at the new version
    page.get_by_role("link", name="Tải lại thửa đất và lập lại biểu mẫu").click()
    expect(page.locator("#register-form")).to_contain_text("phiên bản 2")
    expect(page.locator("#conflict")).to_have_count(0)


def test_double_submit_registers_once(page, accounts, parcel, db, web_server):
    code, seller, _keeper = parcel
    sign_in(page, "officer1")
    open_transfer(page, code)
    fill_transfer(page, seller, [("Vũ Thị Vội", "1/2")])
    page.get_by_role("button", name="Xem trước").click()
    confirm = page.get_by_role("button", name="Xác nhận đăng ký")
    expect(confirm).to_be_visible()
    fields = page.evaluate("() => Object.fromEntries(new FormData(document.getElementById('change-form')))")
    confirm.dblclick()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("Đã đăng ký")
    # a retry of the same confirmation (the network dropped the answer): same form, same key
    again = page.request.post(f"{web_server}/parcel/{code}/register/transfer", form={**fields, "action": "confirm"})
    assert again.ok and "registered=" in again.url
    kinds = [k for _, k, _ in journal_rows(db, code)]
    assert kinds == ["first_registration", "transfer"]


def test_invalid_share_sum_is_shown_next_to_the_shares(page, accounts, parcel, db):
    code, seller, _keeper = parcel
    sign_in(page, "officer1")
    open_transfer(page, code)
    fill_transfer(page, seller, [("Ngô Văn Một", "0,3"), ("Ngô Văn Hai", "0,1")])
    page.get_by_role("button", name="Xem trước").click()
    shares = page.get_by_role("group", name=re.compile("Bên nhận và phần"))
    expect(shares.get_by_role("alert")).to_contain_text("Tổng phần của các bên nhận là 0.4")
    expect(shares.get_by_role("alert")).to_contain_text("không phải 1")
    expect(page.get_by_role("button", name="Xác nhận đăng ký")).to_have_count(0)
    # what was typed is kept
    expect(page.get_by_label("Phần của bên nhận 2")).to_have_value("0,1")
    shot(page, "form-share-sum")
    assert len(journal_rows(db, code)) == 1


def test_mortgage_release_and_land_use_change(page, accounts, parcel, db):
    code, _seller, _keeper = parcel
    sign_in(page, "officer1")
    nav = page.get_by_role("navigation", name="Đăng ký biến động")
    page.goto(f"/parcel/{code}")
    nav.get_by_role("link", name="Thế chấp").click()
    page.get_by_label("Số đăng ký kinh doanh hoặc số định danh").fill("5700009911")
    page.get_by_label("Tên (bên mới)").fill("Ngân hàng Thử Biểu Mẫu")
    page.get_by_label("Số tiền bảo đảm (đồng)").fill("abc")
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator("#err-secured_amount_vnd")).to_contain_text("Số tiền bảo đảm phải là số nguyên")
    page.get_by_label("Số tiền bảo đảm (đồng)").fill("1.500.000.000")
    page.get_by_role("button", name="Xem trước").click()
    expect(page.get_by_role("region", name="Xem trước: những gì sẽ thay đổi")).to_contain_text("Ngân hàng Thử Biểu Mẫu")
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("Đã đăng ký Thế chấp")

    nav.get_by_role("link", name="Xóa thế chấp").click()
    page.get_by_role("button", name="Xem trước").click()
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("Đã đăng ký Xóa thế chấp")

    nav.get_by_role("link", name="Chuyển mục đích sử dụng").click()
    page.get_by_label("Loại đất mới").select_option("ODT")
    page.get_by_role("button", name="Xem trước").click()
    expect(page.locator("#err-land_use")).to_contain_text("Thửa đất đã có loại đất ODT")
    page.get_by_label("Loại đất mới").select_option("TMD")
    page.get_by_role("button", name="Xem trước").click()
    page.get_by_role("button", name="Xác nhận đăng ký").click()
    expect(page.get_by_role("status", name="Kết quả đăng ký")).to_contain_text("phiên bản 4")
    expect(page.locator("#fact-land-use")).to_contain_text("TMD")
    assert [k for _, k, _ in journal_rows(db, code)] == [
        "first_registration", "mortgage", "mortgage_release", "land_use_change"]


def test_viewer_sees_no_forms_and_its_post_is_refused(page, accounts, parcel, db, web_server):
    code, seller, _keeper = parcel
    sign_in(page, "viewer1")
    page.goto(f"/parcel/{code}")
    expect(page.get_by_role("heading", level=1)).to_contain_text(code)
    expect(page.get_by_role("navigation", name="Đăng ký biến động")).to_have_count(0)
    assert page.goto(f"/parcel/{code}/register/transfer").status == 403
    assert page.goto("/registrations").status == 403
    token = CSRF.search(page.content()).group(1)
    form = {"csrf_token": token, "action": "confirm", "expected_version": "1", "key": "viewer-try",
            "effective_date": "2024-06-01", "kind": "transfer", "rows": "1",
            f"from-{db.execute(text('SELECT id FROM parties WHERE id_number = :n'), {'n': seller['id_number']}).scalar_one()}": "1",
            "to-0-id_number": "022199990001", "to-0-full_name": "Kẻ Lạ", "certificate_serial": serial("CT")}
    for action in ("preview", "confirm"):
        resp = page.request.post(f"{web_server}/parcel/{code}/register/transfer", form={**form, "action": action},
                                 max_redirects=0)
        assert resp.status == 403, action
    # and the public, not signed in, the same
    page.get_by_role("button", name="Đăng xuất").click()
    page.goto(f"/parcel/{code}")
    expect(page.get_by_role("navigation", name="Đăng ký biến động")).to_have_count(0)
    token = CSRF.search(page.content()).group(1)
    resp = page.request.post(f"{web_server}/parcel/{code}/register/transfer",
                             form={**form, "csrf_token": token}, max_redirects=0)
    assert resp.status == 403
    assert len(journal_rows(db, code)) == 1
