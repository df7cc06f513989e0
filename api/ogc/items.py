"""`/collections/{id}/items` and `/items/{featureId}`: query parameters → the core's FeatureQuery,
and the FeatureCollection around the features PostGIS rendered.

No Flask here. Paging in the default order is by keyset (`next=<last key>`: the next page starts
where this one ended, with an index seek, at any depth); a `sortby` page pages by offset.
`numberMatched` follows the WFS rule: a short (last) page is counted without a count, a full
page counts up to the configured limit and says nothing past it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Iterable, Iterator
from urllib.parse import urlencode

from landdb import timetravel
from landdb.errors import InvalidInput, NotFound
from landdb.query import Bbox, FeatureQuery, FeatureType, ResourceIds, render, cql2
from landdb.query import ogc_crs as crs

from . import documents

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
#: an HTML page (parsed and laid out in Python) shows at most this many features.
HTML_MAX = 5_000
#: parameters /items reads besides the collection's queryables.
KNOWN = {"f", "limit", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs", "sortby",
         "properties", "next", "offset"}


@dataclass
class Page:
    """A parsed /items request: the core query plus what the links need."""

    query: FeatureQuery
    out_crs: crs.Crs
    limit: int
    offset: int
    args: dict[str, str]
    sorted: bool = False


def _int(args: dict, name: str, default: int, lo: int) -> int:
    raw = args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name}: {raw[:40]!r} is not an integer", field=name) from None
    if value < lo:
        raise InvalidInput(f"{name}: must be at least {lo}", field=name)
    return value


def _numbers(raw: str, name: str) -> tuple[float, ...]:
    try:
        nums = tuple(float(v) for v in raw.split(","))
    except ValueError:
        raise InvalidInput(f"{name}: {raw[:80]!r} is not a list of numbers", field=name) from None
    if len(nums) not in (4, 6) or not all(math.isfinite(v) for v in nums):
        raise InvalidInput(f"{name}: give 4 numbers (minx,miny,maxx,maxy) or 6 (with heights)", field=name)
    return nums


def parse_datetime(raw: str | None) -> dt.date | None:
    """`datetime`: a day (or an instant: its day) means the register as of that day; `..`,
    `../..` and open intervals ending in `..` mean now. Closed intervals are refused (a parcel
    register answers "as of a day")."""
    if raw is None or raw.strip() in ("", "..", "../..", "/"):
        return None
    text = raw.strip()
    if "/" in text:
        start, _, end = text.partition("/")
        if end.strip() in ("..", ""):
            return None
        raise InvalidInput("datetime: give one day (YYYY-MM-DD), the register as of that day; "
                           "intervals other than open-ended ones are not supported", field="datetime")
    m = re.match(r"^(\d{4}-\d{2}-\d{2})(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$", text)
    if not m:
        raise InvalidInput(f"datetime: {text[:40]!r} is not a date (YYYY-MM-DD) or RFC 3339 instant",
                           field="datetime")
    return timetravel.parse_at(m.group(1), field="datetime")


def parse_items(ft: FeatureType, args: dict[str, str], *, at: dt.date | None = None) -> Page:
    """Build the page's query from the request's parameters; InvalidInput names the bad one."""
    published = {p.name: p for p in ft.published}
    unknown = [k for k in args if k not in KNOWN and k not in published]
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown parameter; known: " + ", ".join(sorted(KNOWN | set(published))),
                           field=unknown[0])
    q = FeatureQuery(ft)
    limit = min(_int(args, "limit", DEFAULT_LIMIT, 1), MAX_LIMIT)
    offset = _int(args, "offset", 0, 0)
    out = crs.parse(args.get("crs"), field="crs")
    q.srid, q.lat_first, q.srs_name = out.srid, out.lat_first, out.uri
    if args.get("bbox"):
        bcrs = crs.parse(args.get("bbox-crs"), field="bbox-crs")
        x0, y0, x1, y1 = crs.to_xy(_numbers(args["bbox"], "bbox"), bcrs)
        if bcrs.srid == 4326 and not (-180 <= x0 <= x1 <= 180 and -90 <= y0 <= y1 <= 90):
            raise InvalidInput("bbox: longitudes must lie in -180..180, latitudes in -90..90, min before max"
                               + (" (EPSG:4326 by URI is latitude first)" if bcrs.lat_first else ""), field="bbox")
        q.bbox = Bbox(x0, y0, x1, y1, srid=bcrs.srid)
    elif args.get("bbox-crs"):
        crs.parse(args["bbox-crs"], field="bbox-crs")
    q.at = at if at is not None else parse_datetime(args.get("datetime"))
    node, q.filter_srid = cql2.from_params(args, names=set(published), geometry_name=ft.geometry_name)
    conditions = [] if node is None else [node]
    for name in published:
        if name in args:
            conditions.append(cql2.equals(name, args[name]))
    q.filter = cql2.conjunction(conditions)
    if args.get("properties") is not None:
        names = [n.strip() for n in args["properties"].split(",") if n.strip()]
        for n in names:
            if n not in published and n != ft.geometry_name:
                raise InvalidInput(f"properties: {ft.name} has no property {n!r}", field="properties")
        q.properties = [n for n in names if n != ft.geometry_name] + [ft.geometry_name]
    for term in (t.strip() for t in (args.get("sortby") or "").split(",")):
        if not term:
            continue
        desc = term.startswith("-")
        name = term.lstrip("+-").strip()
        if name.lower().endswith((" desc", " asc")):  # also `name DESC`, as in the WFS
            name, _, direction = name.rpartition(" ")
            desc = direction.lower() == "desc"
        if name not in published:
            raise InvalidInput(f"sortby: {ft.name} has no sortable property {name!r}", field="sortby")
        q.sort.append((name, desc))
    if args.get("next"):
        if q.sort:
            raise InvalidInput("next: a keyset cursor pages the default order only; use offset with sortby",
                               field="next")
        try:
            q.after = int(args["next"])
        except ValueError:
            raise InvalidInput("next: not a cursor from a next link", field="next") from None
    q.count = limit
    q.start = offset
    return Page(q, out, limit, offset, dict(args), sorted=bool(q.sort))


def _last_key(ft: FeatureType, text: bytes) -> int | None:
    """The key of the last feature in rendered GeoJSON (UTF-8; its id is `<type>.<key>`; inside a
    JSON string every quote is escaped, so this pattern only matches an id member)."""
    pattern = f'"id":"{ft.name}.'.encode()
    i = text.rfind(pattern)
    if i < 0:
        return None
    j = i + len(pattern)
    k = j
    while k < len(text) and text[k:k + 1].isdigit():
        k += 1
    return int(text[j:k]) if k > j else None


def _url(base: str, args: dict[str, str], **changes) -> str:
    merged = {k: v for k, v in args.items() if k not in changes}
    merged.update({k: str(v) for k, v in changes.items() if v is not None})
    for k in [k for k, v in changes.items() if v is None]:
        merged.pop(k, None)
    return base + ("?" + urlencode(merged) if merged else "")


def feature_collection(session, page: Page, items_url: str, *, count_limit: int | None,
                       timestamp: str) -> tuple[Iterable[bytes], list[dict], bool]:
    """(body chunks in UTF-8, paging links, whether the body is in memory). The statement has run when
    this returns (a bad filter fails before any byte). Links go after the features, so a page
    streamed from a cursor still ends with a `next` link built from its last key."""
    q = page.query
    matched, chunks = render(session, q, "geojson", separator=",", count_limit=count_limit)
    buffered = isinstance(chunks, list)
    args = {k: v for k, v in page.args.items() if k != "f"}
    args["f"] = "json"
    head = {"type": "FeatureCollection", "timeStamp": timestamp}
    if matched is not None and q.after is None:
        # Past a keyset cursor the core counts what follows the cursor, not the whole match.
        head["numberMatched"] = matched
    if q.srid != 4326 or q.lat_first:
        head["crs"] = {"type": "name", "properties": {"name": page.out_crs.uri}}
    head_text = (json.dumps(head, ensure_ascii=False)[:-1] + ',"features":[').encode()
    state = {"returned": 0, "last": b""}

    def counted(parts: Iterable[bytes]) -> Iterator[bytes]:
        for part in parts:
            if part:
                state["returned"] += part.count(b'{"type":"Feature"')
                state["last"] = part
            yield part

    def tail_links() -> list[dict]:
        links = [documents.link(_url(items_url, args), "self", documents.GEOJSON, "Trang này"),
                 documents.link(_url(items_url, {**args, "f": "html"}), "alternate", documents.HTML, "HTML"),
                 documents.link(items_url.rsplit("/items", 1)[0], "collection", documents.JSON, "Bộ dữ liệu")]
        returned = state["returned"]
        full = returned == page.limit
        if page.sorted or page.offset:
            if full:
                links.append(documents.link(_url(items_url, args, offset=page.offset + page.limit), "next",
                                            documents.GEOJSON, "Trang sau"))
            if page.offset:
                links.append(documents.link(_url(items_url, args, offset=max(0, page.offset - page.limit) or None),
                                            "prev", documents.GEOJSON, "Trang trước"))
        elif full:
            key = _last_key(q.feature_type, state["last"])
            if key is not None:
                links.append(documents.link(_url(items_url, args, next=key), "next", documents.GEOJSON,
                                            "Trang sau"))
        return links

    def tail() -> bytes:
        return ('],"numberReturned":' + str(state["returned"]) + ',"links":'
                + json.dumps(tail_links(), ensure_ascii=False) + "}").encode()

    if buffered:
        body = list(counted(chunks))
        links = tail_links()
        return [head_text, *body, tail()], links, True

    def stream() -> Iterator[bytes]:
        yield head_text
        yield from counted(chunks)
        yield tail()

    return stream(), [], False


def feature_query(ft: FeatureType, feature_id: str, args: dict[str, str]) -> tuple[FeatureQuery, crs.Crs]:
    """The query for one feature by its id (`parcels.42`, as in the GeoJSON; the bare key works too)."""
    unknown = [k for k in args if k not in ("f", "crs")]
    if unknown:
        raise InvalidInput(f"{unknown[0]}: unknown parameter; known: f, crs", field=unknown[0])
    prefix, _, key = feature_id.rpartition(".")
    if (prefix and prefix != ft.name) or not key.isdigit() or len(key) > 18:
        raise NotFound(f"{ft.name} has no feature {feature_id!r}")
    q = FeatureQuery(ft)
    out = crs.parse(args.get("crs"), field="crs")
    q.srid, q.lat_first, q.srs_name = out.srid, out.lat_first, out.uri
    q.filter = ResourceIds((int(key),))
    q.count = 1
    return q, out
