"""The shape of a registration request body, per kind: strict JSON types, no unknown members.

`check_body(body)` runs before anything is locked or written, so a malformed body (a version as
text, a share as text, a member nobody reads) is refused whole with one message that names each
wrong field. The same marshmallow schemas document the request body in the OpenAPI document, so
what the document allows and what the register accepts cannot drift apart. The register's own
rules (shares summing to 1, holders, geometry) are checked later and answer 422.
"""

from __future__ import annotations

import numbers
from typing import Any

import marshmallow as ma
from marshmallow import fields as f
from marshmallow import validate as v

from . import crs
from .errors import InvalidInput

PARCEL_CODE_PATTERN = r"^\d{5}-\d{1,6}-\d{1,7}$"
_BIGINT = 2**63 - 1


class WholeNumber(f.Integer):
    """A JSON integer (not text, not a boolean, not 2.0)."""

    default_error_messages = {"invalid": "must be a whole number (a JSON number, not text)"}

    def __init__(self, *, minimum: int = 1, maximum: int = _BIGINT, **kw):
        super().__init__(strict=True, validate=v.Range(minimum, maximum, error=f"must be from {minimum} to {maximum}"),
                         **kw)


class JsonNumber(f.Float):
    """A JSON number, kept as given (the register converts it exactly, as a decimal)."""

    default_error_messages = {"invalid": "must be a number (a JSON number, not text)"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise self.make_error("invalid")
        return value


class Text(f.String):
    default_error_messages = {"invalid": "must be text"}


class Day(f.Date):
    default_error_messages = {"invalid": "must be a date as YYYY-MM-DD", "format": "must be a date as YYYY-MM-DD"}


class GeoJson(f.Dict):
    """A GeoJSON geometry object; its structure and validity are the register's to judge (422)."""

    default_error_messages = {"invalid": "must be a GeoJSON geometry object"}


class Crs(f.Field):
    """A CRS as text (EPSG:5899, a URN or URI) or an EPSG code as a number."""

    default_error_messages = {"invalid": "must be a CRS like EPSG:5899 (or the number 5899)"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        return value


_CRS_DOC = {"description": "CRS of the geometry (default EPSG:5899); also an EPSG code as a number",
            "oneOf": [{"type": "string", "enum": crs.spellings()}, {"type": "integer", "enum": list(crs.SUPPORTED)}]}


class VersionMap(f.Field):
    """merge's expected_version: `{code: version}` or a list of versions in the order of `parcels`."""

    default_error_messages = {"invalid": "must map each parcel code to its version (an object of whole "
                                         "numbers, or a list of whole numbers in the order of parcels)"}

    def _deserialize(self, value, attr, data, **kwargs):
        versions = value.values() if isinstance(value, dict) else value if isinstance(value, list) else None
        if versions is None or not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= _BIGINT
                                       for n in versions):
            raise self.make_error("invalid")
        return value


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


def _opt(field: f.Field) -> f.Field:
    field.allow_none = True
    return field


class NewCertificate(Strict):
    serial = Text(required=True, metadata={"description": "Số phát hành: two letters and 6 or 8 digits",
                                           "example": "CS 123456"})
    registry_no = _opt(Text())
    issued_on = _opt(Day())
    issued_by = _opt(Text())


class PartyRef(Strict):
    """An existing party (`party_id`, or `id_number` with `id_kind`?) or a new one."""

    party_id = _opt(WholeNumber())
    id_number = _opt(Text())
    id_kind = _opt(Text())
    kind = _opt(Text(metadata={"description": "individual, couple, household or organization (new parties)"}))
    full_name = _opt(Text())
    birth_year = _opt(WholeNumber(minimum=1800, maximum=2200))
    address = _opt(Text())


class PartyShare(PartyRef):
    share = _opt(JsonNumber(metadata={"description": "A fraction of the whole parcel, at most 6 decimals"}))


class Holder(PartyShare):
    kind_of_right = _opt(Text(metadata={"description": "land_use_right (default), house_ownership or lease"}))
    origin = _opt(Text())


class SplitChild(Strict):
    geometry = GeoJson(required=True)
    legal_area_m2 = JsonNumber(required=True)
    parcel_no = _opt(WholeNumber())
    sheet_no = _opt(WholeNumber())
    land_use = _opt(Text())
    address = _opt(Text())
    certificate = _opt(f.Nested(NewCertificate))
    national_id = _opt(Text())


def _parcel(**kw) -> f.Field:
    return Text(validate=v.Regexp(PARCEL_CODE_PATTERN, error="must be a parcel code like 06691-12-345"),
                metadata={"example": "06691-12-345"}, **kw)


class _Common(Strict):
    effective_date = Day(required=True)
    dossier_no = _opt(Text(metadata={"description": "Số hồ sơ: shown only with rights:read"}))


class _OneParcel(_Common):
    parcel = _parcel(required=True)
    expected_version = WholeNumber(required=True, metadata={
        "description": "The parcel's version the request was prepared against (409 if it changed)"})


class FirstRegistration(_Common):
    ward_code = Text(required=True, validate=v.Regexp(r"^\d{5}$", error="must be a 5-digit ward code"))
    sheet_no = WholeNumber(required=True)
    parcel_no = _opt(WholeNumber())
    geometry = GeoJson(required=True)
    crs = _opt(Crs(metadata=_CRS_DOC))
    land_use = Text(required=True)
    legal_area_m2 = JsonNumber(required=True)
    address = _opt(Text())
    national_id = _opt(Text())
    origin = _opt(Text())
    term_end = _opt(Day())
    holders = f.List(f.Nested(Holder), required=True)
    certificate = f.Nested(NewCertificate, required=True)


class Transfer(_OneParcel):
    transferors = f.List(f.Nested(PartyShare), required=True)
    transferees = f.List(f.Nested(PartyShare), required=True)
    certificate = f.Nested(NewCertificate, required=True)
    mortgagee_consent = _opt(f.List(f.Nested(PartyRef)))


class Mortgage(_OneParcel):
    mortgagee = f.Nested(PartyRef, required=True)
    secured_amount_vnd = _opt(JsonNumber())
    term_end = _opt(Day())


class MortgageRelease(_OneParcel):
    mortgage_id = _opt(WholeNumber())
    mortgagee = _opt(f.Nested(PartyRef))


class Split(_OneParcel):
    children = f.List(f.Nested(SplitChild), required=True)
    crs = _opt(Crs(metadata=_CRS_DOC))


class Merge(_Common):
    parcels = f.List(_parcel(), required=True)
    expected_version = VersionMap(required=True, metadata={
        "description": "{code: version}, or a list of versions in the order of parcels",
        "oneOf": [{"type": "object", "additionalProperties": {"type": "integer", "minimum": 1, "maximum": _BIGINT}},
                  {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": _BIGINT}}]})
    parcel_no = _opt(WholeNumber())
    sheet_no = _opt(WholeNumber())
    land_use = _opt(Text())
    legal_area_m2 = _opt(JsonNumber())
    address = _opt(Text())
    certificate = _opt(f.Nested(NewCertificate))


class LandUseChange(_OneParcel):
    land_use = Text(required=True)


class CertificateReissue(_OneParcel):
    certificate = f.Nested(NewCertificate, required=True)


class GeometryCorrection(_OneParcel):
    geometry = GeoJson(required=True)
    legal_area_m2 = _opt(JsonNumber())
    crs = _opt(Crs(metadata=_CRS_DOC))


_BASES: dict[str, type[ma.Schema]] = {
    "first_registration": FirstRegistration,
    "transfer": Transfer, "inheritance": Transfer, "gift": Transfer,
    "mortgage": Mortgage, "mortgage_release": MortgageRelease,
    "split": Split, "merge": Merge,
    "land_use_change": LandUseChange, "certificate_reissue": CertificateReissue,
    "geometry_correction": GeometryCorrection,
}


def _with_kind(kind: str, base: type[ma.Schema]) -> type[ma.Schema]:
    name = "".join(part.title() for part in kind.split("_")) + "Body"
    return type(name, (base,), {"kind": Text(required=True, validate=v.OneOf([kind]))})


#: one schema per kind, each with `kind` fixed to its own name (the OpenAPI document's oneOf).
SCHEMAS: dict[str, type[ma.Schema]] = {kind: _with_kind(kind, base) for kind, base in _BASES.items()}
_INSTANCES = {kind: cls() for kind, cls in SCHEMAS.items()}


def _flatten(messages: Any, prefix: str = "") -> list[str]:
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = f"{prefix}[{key}]" if isinstance(key, int) else f"{prefix}.{key}" if prefix else str(key)
            out += _flatten(value, name)
    elif isinstance(messages, list):
        for value in messages:
            out += _flatten(value, prefix)
    else:
        text = str(messages).rstrip(".")
        text = {"Unknown field": "unknown field", "Missing data for required field": "is required",
                "Field may not be null": "may not be null"}.get(text, text)
        out.append(f"{prefix}: {text}" if prefix else text)
    return out


def check_body(body: Any) -> str:
    """Check a registration body's shape for its kind; return the kind.

    Raises InvalidInput (400) naming every wrong, missing or unknown field at once."""
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    kind = body.get("kind")
    if not isinstance(kind, str) or kind not in SCHEMAS:
        raise InvalidInput(f"kind must be one of {', '.join(SCHEMAS)}", field="kind")
    errors = _INSTANCES[kind].validate(body)
    if errors:
        lines = _flatten(errors)
        first = next(iter(errors))
        raise InvalidInput(f"{kind}: " + "; ".join(lines[:10]), field=str(first),
                           details={"errors": errors})
    return kind
