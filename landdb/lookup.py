"""One search box (ô tìm kiếm): what an officer types, understood and answered with the parcel queries.

`understand(text)` says what kind of input it is; `find(session, text, …)` runs the matching
query from `landdb.parcels` and returns the parcels (and, for principals allowed to see personal
data, the owners) found. Kinds, tried in this order:

| kind          | looks like                                         | query                          |
| ------------- | -------------------------------------------------- | ------------------------------ |
| `code`        | `06691-2-41` (also `06691.2.41`, `06691 2 41`)     | ward, sheet and parcel number  |
| `sheet`       | `tờ 2 thửa 41`, `to 2 thua 41`, `thửa 41 tờ 2`     | sheet and number (+ ward list) |
| `serial`      | `CS 123456`, `AA 06654954` (certificate serial)    | certificate                    |
| `national_id` | `w7sphqjurf6e` (12-character GeoHash)              | national parcel ID             |
| `id_number`   | 9 or 12 digits (CMND / CCCD)                       | owners (personal data)         |
| `text`        | anything else: `ben doan 55`, `nguyen van an`      | address; owner name too        |

Addresses and names match without diacritics (the database's `landdb_fold`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from . import parcels
from .errors import InvalidInput, NotFound

#: at most this many parcels (and owners) are listed for one search …
LIMIT = 20
#: … and matches are counted up to this many.
MAX_COUNTED = 10_000

_CODE = re.compile(r"^(\d{5})\s*[-.\s]\s*(\d{1,6})\s*[-.\s]\s*(\d{1,7})$")
_SHEET_FIRST = re.compile(r"^to\s*(?:ban\s*do\s*)?(?:so\s*)?(\d{1,6})\s*[,;\-]?\s*thua\s*(?:dat\s*)?(?:so\s*)?(\d{1,7})$")
_NUMBER_FIRST = re.compile(r"^thua\s*(?:dat\s*)?(?:so\s*)?(\d{1,7})\s*[,;\-]?\s*to\s*(?:ban\s*do\s*)?(?:so\s*)?(\d{1,6})$")
_ID_NUMBER = re.compile(r"^(\d{9}|\d{12})$")


def fold(value: str) -> str:
    """Lower case without diacritics (`Tờ` → `to`, `Đoan` → `doan`), spaces collapsed."""
    text = unicodedata.normalize("NFD", value.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Understood:
    """What the search box was given: `kind` and the values taken from it."""

    kind: str
    value: str = ""
    sheet: int | None = None
    number: int | None = None
    ward: str | None = None


def understand(text: str) -> Understood:
    """Classify the search text (see the module docstring). Raises InvalidInput when empty."""
    raw = " ".join((text or "").split())
    if not raw:
        raise InvalidInput("type a parcel code, sheet and parcel number, address, certificate serial or ID", field="q")
    raw = raw[:200]
    folded = fold(raw)
    m = _CODE.match(raw)
    if m:
        return Understood("code", f"{m.group(1)}-{int(m.group(2))}-{int(m.group(3))}",
                          sheet=int(m.group(2)), number=int(m.group(3)), ward=m.group(1))
    m = _SHEET_FIRST.match(folded)
    if m:
        return Understood("sheet", raw, sheet=int(m.group(1)), number=int(m.group(2)))
    m = _NUMBER_FIRST.match(folded)
    if m:
        return Understood("sheet", raw, sheet=int(m.group(2)), number=int(m.group(1)))
    if parcels.SERIAL.match(raw):
        return Understood("serial", parcels.normalize_serial(raw))
    if parcels.NATIONAL_ID.match(raw.lower()) and any(c.isalpha() for c in raw):
        return Understood("national_id", raw.lower())
    if _ID_NUMBER.match(raw):
        return Understood("id_number", raw)
    return Understood("text", raw)


@dataclass
class Found:
    """The answer to one search: parcels (feature properties with a `bbox` in WGS 84), owners
    when allowed, and the ids of whose personal data it carries (for the access log)."""

    understood: Understood
    parcels: list[dict] = field(default_factory=list)
    parcels_matched: int = 0
    owners: list[dict] = field(default_factory=list)
    owners_matched: int = 0
    #: owners were not searched because the principal may not see personal data.
    owners_withheld: bool = False
    #: a `sheet` search without a ward found the number in several wards.
    needs_ward: bool = False
    parcel_ids: list[int] = field(default_factory=list)
    party_ids: list[int] = field(default_factory=list)


def _features(stream: parcels.FeatureStream) -> list[dict]:
    out = []
    for f in stream.features():
        props = dict(f["properties"])
        props["bbox"] = _bbox(f.get("geometry"))
        out.append(props)
    return out


def _bbox(geometry: dict | None) -> list[float] | None:
    if not geometry:
        return None
    xs, ys = [], []

    def walk(c):
        if c and isinstance(c[0], (int, float)):
            xs.append(c[0])
            ys.append(c[1])
        else:
            for item in c:
                walk(item)

    walk(geometry["coordinates"])
    return [min(xs), min(ys), max(xs), max(ys)] if xs else None


def find(session: Session, text: str, *, ward: str | None = None, at: dt.date | None = None,
         personal: bool = False) -> Found:
    """Run the search for `text` (see the module docstring) as of `at` (default: today).

    `ward` narrows a sheet-and-number search. With `personal` (the principal holds owners:read),
    ID numbers and names are also looked up among the owners; without it they are not searched
    at all and `owners_withheld` says so. Raises InvalidInput for empty text or a bad ward code."""
    u = understand(text)
    found = Found(u)
    ward = (ward or "").strip() or None
    if ward is not None and not parcels.WARD_CODE.match(ward):
        raise InvalidInput("ward: expected a 5-digit ward code, e.g. 06691", field="ward")
    filters = None
    if u.kind == "code":
        # The code names one parcel, retired ones too (its card says so).
        try:
            feature = json.loads(parcels.get_parcel(session, u.value, at=at))
        except NotFound:
            return found
        found.parcels = [{**feature["properties"], "bbox": _bbox(feature.get("geometry"))}]
        found.parcels_matched = 1
        return found
    if u.kind == "sheet":
        filters = parcels.SearchFilters(ward=ward, sheet=u.sheet, number=u.number)
    elif u.kind == "serial":
        filters = parcels.SearchFilters(certificate=u.value)
    elif u.kind == "national_id":
        filters = parcels.SearchFilters(national_id=u.value)
    elif u.kind == "text":
        filters = parcels.SearchFilters(address=u.value)
    if filters is not None:
        stream = parcels.search_parcels(session, filters, limit=LIMIT, at=at, count_limit=MAX_COUNTED)
        found.parcels = _features(stream)
        # a full page is counted up to MAX_COUNTED; past that, "more than" is all we say
        found.parcels_matched = stream.matched if stream.matched is not None else MAX_COUNTED + 1
        found.needs_ward = u.kind == "sheet" and ward is None and len({p["ward_code"] for p in found.parcels}) > 1
    if u.kind in ("id_number", "text"):
        if not personal:
            found.owners_withheld = True
        elif len(u.value) >= 2:
            read = parcels.search_parties(session, u.value, limit=LIMIT, count_limit=MAX_COUNTED)
            body = json.loads(read.body)
            found.owners = body["parties"]
            matched = body["numberMatched"]
            found.owners_matched = matched if matched is not None else MAX_COUNTED + 1
            found.parcel_ids, found.party_ids = read.parcel_ids, read.party_ids
    return found
