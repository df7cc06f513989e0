"""The core's refusals of a registration, placed next to the form field they concern and said in
the session's language (the core speaks English; the form speaks Vietnamese first).

`for_form(exc)` maps the error's `field` (`transferees[1].share`, `certificate.serial`, …) to a
form field and its message to a sentence of the catalogue; a message with no sentence here is
shown after a Vietnamese lead-in, never dropped.
"""

from __future__ import annotations

import re

from flask_babel import gettext as _

from landdb.errors import LandDBError

from .labels import label

#: The form field (an id in the templates) each of the core's fields is shown beside.
FIELDS = {
    "transferors": "transferors", "transferees": "transferees", "certificate": "certificate",
    "effective_date": "effective_date", "dossier_no": "dossier_no", "kind": "kind",
    "mortgagee": "mortgagee", "mortgagee_consent": "transferors", "mortgage_id": "mortgage_id",
    "secured_amount_vnd": "secured_amount_vnd", "term_end": "term_end", "land_use": "land_use",
    "children": "children", "line": "children", "parcels": "parcels", "geometry": "geometry",
    "legal_area_m2": "legal_area_m2",
}


def _kind(name: str) -> str:
    return label(name).lower()


def _sentences():
    """(pattern, sentence maker) pairs, first match wins; built per request (the language)."""
    return [
        (r"the transferees' shares sum to (\S+) but the transferors pass (\S+) of the (\w+); "
         r"the shares after the transfer would sum to ([^,]+), not 1",
         lambda m: _("Tổng phần của các bên nhận là %(got)s nhưng bên chuyển chuyển đi %(passing)s %(right)s; "
                     "sau biến động tổng các phần sẽ là %(total)s, không phải 1.",
                     got=m[1], passing=m[2], right=_kind(m[3]), total=m[4])),
        (r"with several transferees, give each one's share",
         lambda m: _("Có nhiều bên nhận: hãy ghi phần của từng bên.")),
        (r"name the transferors", lambda m: _("Hãy chọn bên chuyển (người đang có quyền trên thửa đất).")),
        (r"name the transferees", lambda m: _("Hãy thêm ít nhất một bên nhận.")),
        (r"party (\d+) holds (\S+) of the (\w+) on \S+ and cannot transfer (\S+)",
         lambda m: _("Bên chuyển chỉ có phần %(held)s %(right)s, không thể chuyển %(give)s.",
                     held=m[2], right=_kind(m[3]), give=m[4])),
        (r"the transferors hold nothing that could pass", lambda m: _("Bên chuyển không có phần nào để chuyển.")),
        (r"is not a current holder of parcel", lambda m: _("Người này không phải người đang có quyền trên thửa đất.")),
        (r"has no registered holders? (to transfer from|who could mortgage it)",
         lambda m: _("Thửa đất chưa có người có quyền đã đăng ký.")),
        (r"is mortgaged \(to party",
         lambda m: _("Thửa đất đang thế chấp: cần xóa thế chấp trước, hoặc có sự đồng ý của bên nhận thế chấp.")),
        (r"effective_date (\S+) is in the future",
         lambda m: _("Ngày hiệu lực %(d)s là ngày trong tương lai.", d=m[1])),
        (r"effective_date (\S+) is before parcel \S+ current version \(valid from (\S+)\)",
         lambda m: _("Ngày hiệu lực %(d)s sớm hơn ngày của phiên bản hiện tại (%(since)s): "
                     "biến động được đăng ký theo thứ tự ngày.", d=m[1], since=m[2])),
        (r"effective_date (\S+) is before (?:right|certificate) .*\((\S+)\)",
         lambda m: _("Ngày hiệu lực %(d)s sớm hơn ngày bắt đầu của quyền hoặc giấy chứng nhận hiện có (%(since)s).",
                     d=m[1], since=m[2])),
        (r"must be a date", lambda m: _("Ngày phải có dạng năm-tháng-ngày, ví dụ 2024-06-01.")),
        (r"serial must be two letters", lambda m: _("Số seri gồm hai chữ cái và 6 hoặc 8 chữ số, ví dụ CS 123456.")),
        (r"certificate serial (.+) has already been issued",
         lambda m: _("Số seri %(s)s đã được cấp cho một giấy chứng nhận khác.", s=m[1])),
        (r"certificate(\.issued_on)? .*in the future", lambda m: _("Ngày cấp giấy chứng nhận là ngày trong tương lai.")),
        (r"^certificate", lambda m: _("Hãy nhập số seri giấy chứng nhận mới.")),
        (r"share must be more than 0 and at most 1|share must be a number",
         lambda m: _("Phần phải lớn hơn 0 và không quá 1, tối đa 6 chữ số thập phân.")),
        (r"share is needed", lambda m: _("Có nhiều bên nhận: hãy ghi phần của từng bên.")),
        (r"unknown party; give kind and full_name",
         lambda m: _("Chưa có người có số định danh này: hãy nhập cả họ tên để đăng ký người mới.")),
        (r"no such party is registered|no party \d+", lambda m: _("Không có người này trong cơ sở dữ liệu.")),
        (r"the party is not valid",
         lambda m: _("Thông tin người không hợp lệ (kiểm tra số định danh và năm sinh).")),
        (r"is already mortgaged to party", lambda m: _("Thửa đất đã thế chấp cho bên này.")),
        (r"has no such open mortgage|name the mortgage to release",
         lambda m: _("Hãy chọn một khoản thế chấp đang có hiệu lực.")),
        (r"secured_amount_vnd", lambda m: _("Số tiền bảo đảm phải là số nguyên dương (đồng).")),
        (r"already has land use (\w+)", lambda m: _("Thửa đất đã có loại đất %(code)s.", code=m[1])),
        (r"unknown land-use code", lambda m: _("Mã loại đất không có trong danh mục.")),
        (r"children\[(\d+)\] and children\[(\d+)\] overlap by (\S+) m²",
         lambda m: _("Thửa mới %(a)s và thửa mới %(b)s chồng lên nhau %(area)s m².",
                     a=int(m[1]) + 1, b=int(m[2]) + 1, area=m[3])),
        (r"the children (?:leave (\S+) m² of the parent uncovered)?(?: and )?(?:reach (\S+) m² beyond the parent)?"
         r".*within (\S+) m²",
         lambda m: _("Các thửa mới phải phủ đúng thửa gốc (sai số cho phép %(tol)s m²): còn %(gap)s m² chưa phủ, "
                     "%(excess)s m² vượt ra ngoài.", tol=m[3], gap=m[1] or "0", excess=m[2] or "0")),
        (r"a split needs at least two children", lambda m: _("Tách thửa cần ít nhất hai thửa mới.")),
        (r"the line does not cut parcel",
         lambda m: _("Đường vẽ chưa cắt qua thửa đất: hãy vẽ từ ngoài thửa, cắt ngang qua thửa, tới ngoài thửa.")),
        (r"line must be a LineString", lambda m: _("Đường chia phải là một đường (LineString).")),
        (r"must be a Polygon or MultiPolygon", lambda m: _("Thửa đất phải là một vùng (Polygon).")),
        (r"a correction takes one polygon, not (\d+)",
         lambda m: _("Ranh giới mới phải là một vùng duy nhất (tệp có %(n)s vùng).", n=m[1])),
        (r"invalid geometry: (.+)|is not a valid polygon",
         lambda m: _("Hình thể không hợp lệ (tự cắt hoặc không khép kín): %(why)s", why=m[1] or "")),
        (r"coordinates lie outside Vietnam", lambda m: _("Tọa độ nằm ngoài Việt Nam: hãy kiểm tra hệ tọa độ.")),
        (r"parcel\(s\) (.+) share no boundary with",
         lambda m: _("Thửa %(code)s không liền kề với các thửa đã chọn: chỉ hợp được các thửa có chung ranh giới.",
                     code=m[1])),
        (r"parcels to merge must have the same holders with the same shares; (.+) differ from (\S+)",
         lambda m: _("Các thửa hợp phải có cùng người sử dụng với cùng phần: thửa %(codes)s khác thửa %(first)s.",
                     codes=m[1], first=m[2])),
        (r"parcels of different wards cannot be merged", lambda m: _("Không hợp được các thửa thuộc phường/xã khác nhau.")),
        (r"the parcels have different land uses \((.+)\); give land_use",
         lambda m: _("Các thửa có loại đất khác nhau (%(codes)s): hãy chọn loại đất sau khi hợp.", codes=m[1])),
        (r"a merge needs at least two different parcels", lambda m: _("Hãy chọn ít nhất hai thửa để hợp.")),
        (r"the geometry would overlap active parcel\(s\) (.+)",
         lambda m: _("Ranh giới mới chồng lên thửa đất đang sử dụng: %(list)s.", list=m[1])),
        (r"the corrected boundary of \S+ reaches parcel\(s\) (.+), which were not",
         lambda m: _("Ranh giới mới chạm tới thửa %(codes)s vốn không liền kề: chỉnh lý chỉ trong phạm vi các thửa "
                     "liền kề cũ.", codes=m[1])),
        (r"has no rights a certificate could evidence",
         lambda m: _("Thửa đất chưa có quyền nào để giấy chứng nhận ghi nhận.")),
        (r"legal_area_m2 must be a positive area", lambda m: _("Diện tích pháp lý phải là số dương (m²).")),
        (r"the file is empty", lambda m: _("Tệp rỗng.")),
        (r"the file is larger than (\d+) MB", lambda m: _("Tệp lớn hơn %(n)s MB.", n=m[1])),
        (r"the file must be GeoJSON",
         lambda m: _("Tệp phải là GeoJSON (.geojson, .json), GeoPackage (.gpkg) hoặc Shapefile nén (.zip).")),
        (r"the zip must hold one Shapefile",
         lambda m: _("Tệp nén phải chứa đúng một Shapefile (.shp, .shx, .dbf, .prj) và không gì khác.")),
        (r"could not be read as a vector file", lambda m: _("Không đọc được tệp như một tệp dữ liệu bản đồ.")),
        (r"the file holds no geometry", lambda m: _("Tệp không có hình thể nào.")),
        (r"the file holds more than (\d+) features", lambda m: _("Tệp có hơn %(n)s đối tượng.", n=m[1])),
        (r"CRS .*is not one this service knows|^file: EPSG:\d+ is not supported",
         lambda m: _("Hệ tọa độ của tệp không được hỗ trợ: hãy lưu theo VN-2000 / TM-3 107°45′ (EPSG:5899), "
                     "WGS 84 (EPSG:4326) hoặc EPSG:3857.")),
        (r"is not a parcel code", lambda m: _("Mã thửa phải có dạng 06691-12-345.")),
        (r"^no parcel (\S+)", lambda m: _("Không có thửa %(code)s.", code=m[1])),
        (r"the drawing is not GeoJSON", lambda m: _("Nét vẽ không đọc được (GeoJSON).")),
        (r"Idempotency-Key was already used",
         lambda m: _("Biểu mẫu này đã được dùng cho một nội dung khác: hãy mở lại biểu mẫu từ thửa đất.")),
        (r"retired", lambda m: _("Thửa đất đã ngừng (tách hoặc hợp), không thể đăng ký biến động.")),
    ]


def message(exc: LandDBError) -> str:
    """The refusal in the session's language."""
    for pattern, make in _sentences():
        m = re.search(pattern, exc.message)
        if m:
            return make(m)
    return _("Không đăng ký được: %(reason)s", reason=exc.message)


def field_of(core_field: str | None) -> str:
    """The form field a core field is shown beside (`_form` for the form as a whole)."""
    head = re.match(r"[A-Za-z_]+", core_field or "")
    return FIELDS.get(head.group(0), "_form") if head else "_form"


def for_form(exc: LandDBError) -> dict[str, str]:
    """`{form field: message}` for one refusal of the core."""
    return {field_of(exc.field): message(exc)}
