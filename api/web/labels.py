"""Names shown for the register's codes (kinds of transaction, right, party; status; role), in the
message catalogues. (The map's land-use colours and legend are the tiles' style, landdb.tiles.style.)"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l


LABELS = {
    # transactions (đăng ký biến động)
    "first_registration": _l("Đăng ký lần đầu"), "transfer": _l("Chuyển nhượng"),
    "inheritance": _l("Thừa kế"), "gift": _l("Tặng cho"), "mortgage": _l("Thế chấp"),
    "mortgage_release": _l("Xóa thế chấp"), "split": _l("Tách thửa"), "merge": _l("Hợp thửa"),
    "land_use_change": _l("Chuyển mục đích sử dụng"), "certificate_reissue": _l("Cấp lại giấy chứng nhận"),
    "geometry_correction": _l("Chỉnh lý hình thể"), "import": _l("Nhập dữ liệu"),
    # rights (quyền)
    "land_use_right": _l("Quyền sử dụng đất"), "house_ownership": _l("Quyền sở hữu nhà ở"),
    "lease": _l("Thuê đất"),
    # parties (chủ sử dụng)
    "individual": _l("Cá nhân"), "couple": _l("Vợ chồng"), "household": _l("Hộ gia đình"),
    "organization": _l("Tổ chức"), "religious": _l("Cơ sở tôn giáo"), "community": _l("Cộng đồng dân cư"),
    # status, roles
    "current": _l("Đang sử dụng"), "retired": _l("Đã ngừng (tách, hợp hoặc chỉnh lý)"),
    "officer": _l("cán bộ"), "admin": _l("quản trị"), "viewer": _l("người xem"),
    "subject": _l("thửa liên quan"), "source": _l("thửa gốc"), "target": _l("thửa mới"),
}


def label(code: str | None) -> str:
    """The shown name of a code, or the code itself."""
    if code is None:
        return ""
    return str(LABELS.get(code, code))
