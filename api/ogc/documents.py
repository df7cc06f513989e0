"""The OGC API's JSON documents (landing page, conformance, collections, queryables) as plain dicts.

No Flask here: each function takes the API's base URL (`…/ogc`) and what the core knows about a
feature type, and returns the document. Titles and labels are Vietnamese first, English after.
"""

from __future__ import annotations

from typing import Callable

from landdb.query import ogc_crs as crs

JSON = "application/json"
GEOJSON = "application/geo+json"
HTML = "text/html"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
REL_CONFORMANCE = "http://www.opengis.net/def/rel/ogc/1.0/conformance"
REL_DATA = "http://www.opengis.net/def/rel/ogc/1.0/data"
REL_QUERYABLES = "http://www.opengis.net/def/rel/ogc/1.0/queryables"

_F1 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/"
_F2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/"
_F3 = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/"
_CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
#: The conformance classes we declare: each one is exercised by tests/ogc.
CONFORMANCE = (
    _F1 + "core", _F1 + "geojson", _F1 + "html", _F1 + "oas30",
    _F2 + "crs",
    _F3 + "queryables", _F3 + "queryables-query-parameters", _F3 + "filter", _F3 + "features-filter",
    _CQL2 + "cql2-text", _CQL2 + "cql2-json", _CQL2 + "basic-cql2", _CQL2 + "advanced-comparison-operators",
    _CQL2 + "case-insensitive-comparison", _CQL2 + "accent-insensitive-comparison",
    _CQL2 + "basic-spatial-functions", _CQL2 + "basic-spatial-functions-plus", _CQL2 + "spatial-functions",
    _CQL2 + "property-property",
)

TITLE = "landdb — Cơ sở dữ liệu đất đai Hạ Long (OGC API – Features)"
DESCRIPTION = ("Thửa đất và đơn vị hành chính của thành phố Hạ Long, Quảng Ninh. Cadastral parcels and "
               "administrative units of Hạ Long: public attributes only, no owner data.")

#: Vietnamese labels of the collections and their properties (English in the JSON descriptions).
COLLECTION_TITLES = {"parcels": "Thửa đất (hiện hành)", "wards": "Đơn vị hành chính (phường, xã)"}
LABELS = {
    "parcel_code": "Mã thửa", "ward_code": "Mã phường/xã", "ward_name": "Phường/xã",
    "sheet_no": "Số tờ bản đồ", "parcel_no": "Số thửa", "national_id": "Mã định danh thửa đất",
    "land_use": "Mã loại đất", "land_use_name": "Loại đất", "legal_area_m2": "Diện tích pháp lý (m²)",
    "area_m2": "Diện tích hình học (m²)", "address": "Địa chỉ", "valid_from": "Hiệu lực từ",
    "valid_to": "Hiệu lực đến", "version": "Phiên bản", "code": "Mã đơn vị", "name": "Tên",
    "level": "Cấp", "geometry": "Hình thể",
}
_JSON_TYPES = {"str": {"type": "string"}, "int": {"type": "integer"}, "float": {"type": "number"},
               "date": {"type": "string", "format": "date"}}


def link(href: str, rel: str, type_: str, title: str | None = None) -> dict:
    out = {"href": href, "rel": rel, "type": type_}
    if title:
        out["title"] = title
    return out


def _self_links(url: str, fmt: str, json_type: str = JSON) -> list[dict]:
    """self + alternate for a document offered as JSON and HTML."""
    if fmt == "html":
        return [link(url + "?f=html", "self", HTML, "Trang này"), link(url + "?f=json", "alternate", json_type, "JSON")]
    return [link(url + "?f=json", "self", json_type, "This document"), link(url + "?f=html", "alternate", HTML, "HTML")]


def landing(base: str, fmt: str) -> dict:
    return {
        "title": TITLE,
        "description": DESCRIPTION,
        "links": _self_links(base + "/", fmt) + [
            link(base + "/api", "service-desc", OPENAPI, "OpenAPI 3.0"),
            link(base + "/api?f=html", "service-doc", HTML, "Tài liệu API (API documentation)"),
            link(base + "/conformance", "conformance", JSON, "Lớp phù hợp (conformance classes)"),
            link(base + "/conformance", REL_CONFORMANCE, JSON, "Conformance classes"),
            link(base + "/collections", "data", JSON, "Bộ dữ liệu (collections)"),
            link(base + "/collections", REL_DATA, JSON, "Collections"),
        ],
    }


def conformance(base: str, fmt: str) -> dict:
    return {"links": _self_links(base + "/conformance", fmt), "conformsTo": list(CONFORMANCE)}


def collection(base: str, ft, extent: tuple[float, float, float, float] | None, temporal: tuple | None,
               fmt: str = "json", extra_links: Callable[[str], list[dict]] | None = None) -> dict:
    """One collection's description; `extent` in CRS84, `temporal` (start, end) dates or None."""
    url = f"{base}/collections/{ft.name}"
    links = _self_links(url, fmt) + [
        link(url + "/items?f=json", "items", GEOJSON, "Đối tượng (GeoJSON)"),
        link(url + "/items?f=html", "items", HTML, "Đối tượng (HTML)"),
        link(url + "/queryables", REL_QUERYABLES, SCHEMA, "Thuộc tính lọc được (queryables)"),
        link(url + "/queryables", "queryables", SCHEMA, "Queryables"),
    ]
    if extra_links:
        links += extra_links(ft.name)
    out = {
        "id": ft.name,
        "title": COLLECTION_TITLES.get(ft.name, ft.title),
        "description": ft.abstract,
        "keywords": list(ft.keywords),
        "itemType": "feature",
        "links": links,
        "crs": crs.uris(),
        "storageCrs": crs.STORAGE.uri,
    }
    ext: dict = {}
    if extent is not None:
        ext["spatial"] = {"bbox": [list(extent)], "crs": crs.CRS84}
    if temporal is not None:
        ext["temporal"] = {"interval": [[_iso(temporal[0]), _iso(temporal[1])]],
                           "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
    if ext:
        out["extent"] = ext
    return out


def _iso(d) -> str | None:
    return None if d is None else f"{d.isoformat()}T00:00:00Z"


def collections(base: str, items: list[dict], fmt: str) -> dict:
    return {"links": _self_links(base + "/collections", fmt), "collections": items}


def queryables(base: str, ft) -> dict:
    """The collection's queryables as a JSON Schema (Part 3)."""
    props: dict = {}
    for p in ft.properties:
        props[p.name] = {"title": LABELS.get(p.name, p.name), "description": p.name, **_JSON_TYPES.get(p.kind, {})}
    props[ft.geometry_name] = {"title": LABELS["geometry"], "description": "boundary (MultiPolygon)",
                               "format": "geometry-multipolygon", "x-ogc-role": "primary-geometry"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{ft.name}/queryables",
        "type": "object",
        "title": COLLECTION_TITLES.get(ft.name, ft.title),
        "properties": props,
        "additionalProperties": False,
    }
