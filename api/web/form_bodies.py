"""The registration forms' fields turned into the body `POST /api/v1/transactions` takes.

Only what the form itself can tell is checked here (a share that is not a number, a missing
serial); every rule of the register is the core's, met through the dry run. Errors are a dict
of form field → message, the same shape `form_errors` gives for the core's refusals.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from landdb.reference import read_table

#: Transferee rows a form may have.
MAX_ROWS = 12
PARTY_KINDS = (("individual", _l("Cá nhân")), ("household", _l("Hộ gia đình")),
               ("couple", _l("Vợ chồng")), ("organization", _l("Tổ chức")))


def rows(values) -> int:
    try:
        return max(1, min(int(values.get("rows", 1)), MAX_ROWS))
    except ValueError:
        return 1


def holders(card) -> list[dict]:
    """The current holders of the card's parcel, one per party: id, name, ID number, kind, shares by right."""
    out: dict[int, dict] = {}
    for r in (card.rights or {}).get("rights", []):
        party = r.get("party") or {}
        if r["kind"] not in ("land_use_right", "house_ownership") or party.get("id") is None:
            continue
        h = out.setdefault(party["id"], {"id": party["id"], "name": party.get("full_name"),
                                         "id_number": party.get("id_number"), "kind": party.get("kind"), "shares": {}})
        h["shares"][r["kind"]] = r["share"]
    return list(out.values())


def mortgages(card) -> list[dict]:
    """The card's open mortgages: right id, mortgagee's name, since, amount."""
    return [{"id": m["id"], "name": (m.get("party") or {}).get("full_name"), "valid_from": m["valid_from"],
             "amount": m.get("secured_amount_vnd")} for m in (card.rights or {}).get("restrictions", [])]


_land_uses: list = []


def land_uses() -> list[tuple[str, str]]:
    """Land-use codes still in force, with their Vietnamese names."""
    if not _land_uses:
        _land_uses.extend((r["code"], r["name_vi"]) for r in read_table("land_use_codes") if not r["valid_to"])
    return _land_uses


def share(text: str | None) -> Decimal | None:
    """A share typed as 0.5, 0,5 or 1/2 (None when blank); ValueError when it is not a number."""
    text = (text or "").strip().replace(",", ".")
    if not text:
        return None
    try:
        if "/" in text:
            f = Fraction(text.replace(" ", ""))
            value = Decimal(f.numerator) / Decimal(f.denominator)
            return value.quantize(Decimal("0.000001")) if value != value.quantize(Decimal("0.000001")) else value
        return Decimal(text)
    except (ValueError, ZeroDivisionError, InvalidOperation):
        raise ValueError(text) from None


def _number(d: Decimal):
    """A share as the JSON number the API takes (whole numbers as integers)."""
    return int(d) if d == d.to_integral_value() else float(d)


def _common(values, card, kind: str) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    try:
        version = int(values.get("expected_version", ""))
    except ValueError:
        version = card.props["version"]
    body = {"kind": kind, "parcel": card.code, "expected_version": version,
            "effective_date": (values.get("effective_date") or "").strip()}
    if not body["effective_date"]:
        errors["effective_date"] = _("Hãy nhập ngày hiệu lực.")
    dossier = (values.get("dossier_no") or "").strip()
    if dossier:
        body["dossier_no"] = dossier
    return body, errors


def _certificate(values, errors: dict) -> dict | None:
    serial = (values.get("certificate_serial") or "").strip()
    if not serial:
        errors["certificate"] = _("Hãy nhập số seri giấy chứng nhận mới.")
        return None
    cert = {"serial": serial}
    if (values.get("certificate_registry_no") or "").strip():
        cert["registry_no"] = values["certificate_registry_no"].strip()
    return cert


def _party(values, prefix: str) -> dict | None:
    """A party from a row of fields: an existing one by ID number, or a new one."""
    idn = (values.get(f"{prefix}id_number") or "").strip()
    name = (values.get(f"{prefix}full_name") or "").strip()
    if not idn and not name:
        return None
    party = {}
    if idn:
        party["id_number"] = idn
    if name:
        party["full_name"] = name
        party["kind"] = values.get(f"{prefix}kind") or "individual"
        year = (values.get(f"{prefix}birth_year") or "").strip()
        if year:
            party["birth_year"] = int(year) if year.isdigit() else year
        address = (values.get(f"{prefix}address") or "").strip()
        if address:
            party["address"] = address
    return party


def _transfer(values, card) -> tuple[dict, dict]:
    kind = values.get("kind", "transfer")
    body, errors = _common(values, card, kind if kind in ("transfer", "inheritance", "gift") else "transfer")
    transferors = []
    # From the ticked boxes, not from today's holders: a retry of a registered form must build
    # the very body it registered (its Idempotency-Key is bound to it), and a holder who is no
    # longer one is the core's to refuse.
    ticked = sorted(int(m[1]) for k in values if (m := re.fullmatch(r"from-(\d{1,18})", k)) and values.get(k))
    for pid in ticked:
        t = {"party_id": pid}
        try:
            part = share(values.get(f"from-{pid}-share"))
        except ValueError:
            errors["transferors"] = _("Phần chuyển phải là một số, ví dụ 0,5 hoặc 1/2.")
            continue
        if part is not None:
            t["share"] = _number(part)
        transferors.append(t)
    body["transferors"] = transferors
    transferees = []
    for i in range(rows(values)):
        party = _party(values, f"to-{i}-")
        if party is None:
            continue
        try:
            part = share(values.get(f"to-{i}-share"))
        except ValueError:
            errors["transferees"] = _("Phần của bên nhận phải là một số, ví dụ 0,5 hoặc 1/2.")
            continue
        if part is not None:
            party["share"] = _number(part)
        transferees.append(party)
    body["transferees"] = transferees
    cert = _certificate(values, errors)
    if cert:
        body["certificate"] = cert
    return body, errors


def _mortgage(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "mortgage")
    bank = _party(values, "mortgagee-")
    if bank is None:
        errors["mortgagee"] = _("Hãy nhập bên nhận thế chấp (số đăng ký kinh doanh hoặc số định danh).")
    else:
        body["mortgagee"] = bank
    amount = (values.get("secured_amount_vnd") or "").replace(".", "").replace(" ", "").strip()
    if amount:
        if not amount.isdigit():
            errors["secured_amount_vnd"] = _("Số tiền bảo đảm phải là số nguyên (đồng).")
        else:
            body["secured_amount_vnd"] = int(amount)
    if (values.get("term_end") or "").strip():
        body["term_end"] = values["term_end"].strip()
    return body, errors


def _release(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "mortgage_release")
    chosen = (values.get("mortgage_id") or "").strip()
    if not chosen.isdigit():
        errors["mortgage_id"] = _("Hãy chọn khoản thế chấp cần xóa.")
    else:
        body["mortgage_id"] = int(chosen)
    return body, errors


def _land_use(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "land_use_change")
    code = (values.get("land_use") or "").strip()
    if not code:
        errors["land_use"] = _("Hãy chọn loại đất mới.")
    else:
        body["land_use"] = code
    return body, errors


def _reissue(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "certificate_reissue")
    cert = _certificate(values, errors)
    if cert:
        body["certificate"] = cert
    return body, errors


def area(text: str | None) -> float | None:
    """An area typed as 120.5 or 120,5 (None when blank); ValueError when it is not a positive number."""
    text = (text or "").strip().replace(" ", "").replace(",", ".")
    if not text:
        return None
    value = float(text)
    if not 0 < value < 1e10:
        raise ValueError(text)
    return value


def geometries(values, name: str) -> list | None:
    """The JSON list (or one geometry) a draft left in hidden field `name`; None when absent or not JSON."""
    try:
        found = json.loads(values.get(name) or "null")
    except ValueError:
        return None
    if isinstance(found, dict):
        found = [found]
    return found if isinstance(found, list) and found else None


def _split(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "split")
    drawn = geometries(values, "children")
    if drawn is None:
        errors["children"] = _("Hãy vẽ đường chia thửa trên bản đồ hoặc tải lên tệp các thửa mới.")
        return body, errors
    children = []
    for i, geometry in enumerate(drawn):
        child = {"geometry": geometry}
        try:
            legal = area(values.get(f"child-{i}-legal_area"))
        except ValueError:
            errors["children"] = _("Diện tích pháp lý của thửa mới phải là số dương (m²), ví dụ 120,5.")
            legal = None
        if legal is None and "children" not in errors:
            errors["children"] = _("Hãy nhập diện tích pháp lý của từng thửa mới.")
        child["legal_area_m2"] = legal
        code = (values.get(f"child-{i}-land_use") or "").strip()
        if code and code != card.props.get("land_use"):
            child["land_use"] = code
        serial = (values.get(f"child-{i}-serial") or "").strip()
        if serial:
            child["certificate"] = {"serial": serial}
        children.append(child)
    body["children"] = children
    body["crs"] = "EPSG:5899"
    return body, errors


def merge_versions(values) -> dict[str, int]:
    """The parcels picked for a merge, each with the version it had when picked (in the order picked)."""
    out = {}
    for code in values.getlist("parcels"):
        try:
            out[code] = int(values.get(f"version-{code}", ""))
        except ValueError:
            continue
    return out


def _merge(values, card) -> tuple[dict, dict]:
    errors: dict[str, str] = {}
    picked = merge_versions(values)
    body = {"kind": "merge", "parcels": list(picked), "expected_version": picked,
            "effective_date": (values.get("effective_date") or "").strip()}
    if not body["effective_date"]:
        errors["effective_date"] = _("Hãy nhập ngày hiệu lực.")
    if len(picked) < 2:
        errors["parcels"] = _("Hãy chọn trên bản đồ ít nhất một thửa liền kề để hợp.")
    dossier = (values.get("dossier_no") or "").strip()
    if dossier:
        body["dossier_no"] = dossier
    code = (values.get("land_use") or "").strip()
    if code:
        body["land_use"] = code
    try:
        legal = area(values.get("legal_area_m2"))
    except ValueError:
        errors["legal_area_m2"] = _("Diện tích pháp lý phải là số dương (m²), ví dụ 120,5.")
        legal = None
    if legal is not None:
        body["legal_area_m2"] = legal
    if (values.get("certificate_serial") or "").strip():
        body["certificate"] = _certificate(values, errors)
    return body, errors


def _geometry(values, card) -> tuple[dict, dict]:
    body, errors = _common(values, card, "geometry_correction")
    drawn = geometries(values, "geometry")
    if drawn is None or len(drawn) != 1:
        errors["geometry"] = _("Hãy vẽ ranh giới mới trên bản đồ hoặc tải lên tệp đo đạc.")
    else:
        body["geometry"] = drawn[0]
        body["crs"] = "EPSG:5899"
    try:
        legal = area(values.get("legal_area_m2"))
    except ValueError:
        errors["legal_area_m2"] = _("Diện tích pháp lý phải là số dương (m²), ví dụ 120,5.")
        legal = None
    if legal is not None:
        body["legal_area_m2"] = legal
    return body, errors


BUILDERS = {"transfer": _transfer, "mortgage": _mortgage, "mortgage-release": _release, "land-use": _land_use,
            "certificate": _reissue, "split": _split, "merge": _merge, "geometry": _geometry}


def build(form: str, card, values) -> tuple[dict, dict]:
    """The registration body of form `form` filled with `values` for `card`'s parcel, and the
    errors the form itself can see (field → message)."""
    return BUILDERS[form](values, card)
