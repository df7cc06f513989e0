"""Stand-in for the read core's query value (landdb.query) until it lands: the same names, current tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .. import timetravel
from ..errors import InvalidInput


@dataclass(frozen=True)
class Property:
    name: str
    sql: str


@dataclass(frozen=True)
class FeatureType:
    name: str
    current_sql: str
    at_sql: str
    key: str
    properties: tuple[Property, ...]

    @property
    def key_sql(self) -> str:
        return f"f.{self.key}"

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)

    def geometry_column(self, srid: int) -> str | None:
        return {5899: "f.geom", 3857: "f.geom_3857"}.get(srid)


def _parcels(where: str) -> str:
    return ("(SELECT p.id AS parcel_id, p.parcel_code, v.land_use, v.legal_area_m2, v.geom, "
            "ST_Transform(v.geom, 3857) AS geom_3857 FROM parcels p JOIN parcel_versions v ON v.parcel_id = p.id "
            f"WHERE {where}) f")


FEATURE_TYPES = {
    "parcels": FeatureType(
        "parcels", _parcels("v.valid_to IS NULL AND p.retired_on IS NULL"), _parcels(timetravel.valid_at("v")),
        "parcel_id", (Property("parcel_code", "f.parcel_code"), Property("land_use", "f.land_use"),
                      Property("legal_area_m2", "f.legal_area_m2"))),
    "wards": FeatureType(
        "wards", "(SELECT a.*, ST_Transform(a.geom, 3857) AS geom_3857 FROM admin_units a) f",
        f"(SELECT a.*, ST_Transform(a.geom, 3857) AS geom_3857 FROM admin_units a WHERE {timetravel.valid_at('a')}) f",
        "id", (Property("code", "f.code"), Property("name", "f.name"), Property("level", "f.level"),
               Property("valid_to", "f.valid_to"))),
}


@dataclass
class FeatureQuery:
    feature_type: FeatureType
    filter: Any = None
    at: dt.date | None = None
    where: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)

    def add(self, sql: str, **params) -> None:
        self.where.append(sql)
        self.params.update(params)


@dataclass(frozen=True)
class Compiled:
    source: str
    where: str
    params: dict


def compile_where(q: FeatureQuery) -> Compiled:
    if q.filter is not None:
        raise InvalidInput("filter: not available yet", field="filter")
    params = dict(q.params)
    if q.at is not None:
        params["at"] = q.at
    ft = q.feature_type
    return Compiled(ft.at_sql if q.at else ft.current_sql, " AND ".join(f"({w})" for w in q.where) or "TRUE", params)
