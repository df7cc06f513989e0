"""Feature collection envelopes around the members PostGIS renders: GML 3.2 / 3.1.1 / 2 and GeoJSON."""

from __future__ import annotations

import datetime as dt
import json
from xml.sax.saxutils import quoteattr

from landdb.query import NAMESPACE, PREFIX

XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
CONTENT_TYPES = {
    "gml32": "application/gml+xml; version=3.2; charset=UTF-8",
    "gml311": "text/xml; subtype=gml/3.1.1; charset=UTF-8",
    "gml2": "text/xml; subtype=gml/2.1.2; charset=UTF-8",
    "geojson": "application/json; charset=UTF-8",
}


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _matched(matched: int | None) -> str:
    """The numberMatched attribute: WFS 2.0 allows "unknown"."""
    return "unknown" if matched is None else str(matched)


def envelope(fmt: str, *, matched: int | None, returned: int, describe_url: str, next_url: str | None = None,
             previous_url: str | None = None, crs_name: str | None = None) -> tuple[str, str]:
    """(head, tail) of the collection; the members go between them. `matched` None is "unknown"
    (null in GeoJSON)."""
    if fmt == "geojson":
        head = {"type": "FeatureCollection", "numberMatched": matched, "numberReturned": returned,
                "timeStamp": _now()}
        links = []
        if next_url:
            links.append({"rel": "next", "href": next_url, "type": "application/json"})
        if previous_url:
            links.append({"rel": "previous", "href": previous_url, "type": "application/json"})
        if links:
            head["links"] = links
        if crs_name:
            head["crs"] = {"type": "name", "properties": {"name": crs_name}}
        text = json.dumps(head, ensure_ascii=False)
        return text[:-1] + ', "features": [', "]}"
    loc = f"{NAMESPACE} {describe_url}"
    if fmt == "gml32":
        attrs = f' numberMatched="{_matched(matched)}" numberReturned="{returned}" timeStamp="{_now()}"'
        if next_url:
            attrs += f" next={quoteattr(next_url)}"
        if previous_url:
            attrs += f" previous={quoteattr(previous_url)}"
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" '
            f'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:{PREFIX}="{NAMESPACE}" {XSI}{attrs} '
            'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd '
            f'http://www.opengis.net/gml/3.2 http://schemas.opengis.net/gml/3.2.1/gml.xsd {_attr(loc)}">'
        )
        return head, "</wfs:FeatureCollection>"
    if fmt == "gml311":
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs" xmlns:gml="http://www.opengis.net/gml" '
            f'xmlns:{PREFIX}="{NAMESPACE}" {XSI} numberOfFeatures="{returned}" timeStamp="{_now()}" '
            f'xsi:schemaLocation="http://www.opengis.net/wfs http://schemas.opengis.net/wfs/1.1.0/wfs.xsd {_attr(loc)}">'
        )
        return head, "</wfs:FeatureCollection>"
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs" xmlns:gml="http://www.opengis.net/gml" '
        f'xmlns:{PREFIX}="{NAMESPACE}" {XSI} '
        f'xsi:schemaLocation="http://www.opengis.net/wfs http://schemas.opengis.net/wfs/1.0.0/WFS-basic.xsd {_attr(loc)}">'
        "<gml:boundedBy><gml:null>unknown</gml:null></gml:boundedBy>"
    )
    return head, "</wfs:FeatureCollection>"


def _attr(value: str) -> str:
    return quoteattr(value)[1:-1]


def hits(fmt: str, version: str, matched: int | None) -> str:
    """A resultType=hits answer (`matched` None: "unknown", 2.0 and GeoJSON only)."""
    if fmt == "geojson":
        return json.dumps({"type": "FeatureCollection", "numberMatched": matched, "numberReturned": 0,
                           "timeStamp": _now(), "features": []})
    if version == "2.0.0":
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" {XSI} numberMatched="{_matched(matched)}" '
            f'numberReturned="0" timeStamp="{_now()}" '
            'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd"/>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<wfs:FeatureCollection xmlns:wfs="http://www.opengis.net/wfs" xmlns:gml="http://www.opengis.net/gml" {XSI} '
        f'numberOfFeatures="{matched}" timeStamp="{_now()}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs http://schemas.opengis.net/wfs/1.1.0/wfs.xsd"/>'
    )


def value_collection(matched: int | None, returned: int) -> tuple[str, str]:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:ValueCollection xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        f'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:{PREFIX}="{NAMESPACE}" {XSI} '
        f'numberMatched="{_matched(matched)}" numberReturned="{returned}" timeStamp="{_now()}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd">'
    )
    return head, "</wfs:ValueCollection>"
