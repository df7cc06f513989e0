"""Names shown for the register's codes (kinds of transaction, right, party; status; role) and
the map's land-use colours, all in the message catalogues."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from landdb.reference import read_table

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


#: map colours of land-use groups: (key, label, colour, codes); the first matching group wins,
#: codes not listed fall back on their category (land_use_codes.category).
GROUPS = (
    ("urban", _l("Đất ở đô thị (ODT)"), "#e4846a", ("ODT",)),
    ("rural", _l("Đất ở nông thôn (ONT)"), "#f0b27a", ("ONT",)),
    ("commerce", _l("Thương mại, dịch vụ (TMD)"), "#c86bb5", ("TMD",)),
    ("industry", _l("Sản xuất, khai khoáng (SKC, SKS, SKX…)"), "#8d6e63", ("SKC", "SKS", "SKX", "SKK", "SKN", "SKT")),
    ("crops", _l("Trồng lúa, cây hằng năm (LUC, HNK…)"), "#e8dc6a", ("LUC", "LUK", "LUN", "HNK", "BHK", "NHK")),
    ("perennial", _l("Cây lâu năm (CLN)"), "#a5cf6b", ("CLN",)),
    ("forest", _l("Rừng (RSX, RPH, RDD)"), "#4e9a5b", ("RSX", "RPH", "RDD")),
    ("aquaculture", _l("Nuôi trồng thủy sản, mặt nước (NTS, SON, MNC)"), "#79bde0", ("NTS", "LMU", "SON", "MNC", "PNK")),
    ("public", _l("Đất công cộng, cơ quan, quốc phòng"), "#b8b8c8", ()),
    ("unused", _l("Đất chưa sử dụng"), "#eeeeee", ()),
)
_CATEGORY_GROUP = {"agricultural": "crops", "residential": "urban", "non_agricultural": "public",
                   "water": "aquaculture", "unused": "unused"}


def land_use_colors() -> dict[str, str]:
    """Colour of every land-use code, for the map's style."""
    by_key = {key: color for key, _label, color, _codes in GROUPS}
    colors = {}
    for row in read_table("land_use_codes"):
        code = row["code"]
        group = next((key for key, _label, _c, codes in GROUPS if code in codes), None)
        colors[code] = by_key[group or _CATEGORY_GROUP.get(row["category"] or "", "public")]
    return colors


def legend() -> list[tuple[str, str, str]]:
    return [(key, str(label_), color) for key, label_, color, _codes in GROUPS]
