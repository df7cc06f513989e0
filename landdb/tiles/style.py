"""The map documents of the tiles: TileJSON 3.0 per collection and the MapLibre style coloured by land use.

Colours are data (`landdb/data/land_use_colours.csv`, `land_use_groups.csv`, with their
sources in `land_use_colour_sources.csv`): the fills of Vietnamese land-use maps, one per
land-use code, each code in a group for the legend. URLs come from the caller (the web layer
knows where it is served); nothing here knows HTTP.
"""

from __future__ import annotations

from functools import lru_cache

from ..reference import read_table
from . import matrix
from .mvt import FORMAT_VERSION, LAYERS, TileLayer

#: Colour of a land-use code missing from the table (a code added later): light grey.
UNKNOWN_FILL = "#E8E8E8"
PARCEL_LINE = "#8C6D4F"
WARD_LINE = "#B0141E"
BACKGROUND = "#F7F6F2"


@lru_cache(maxsize=None)
def colours() -> tuple[dict, ...]:
    """Rows of the colour table: code, group, colour (#RRGGBB), source (key of the sources table)."""
    return tuple(read_table("land_use_colours"))


@lru_cache(maxsize=None)
def groups() -> tuple[dict, ...]:
    """The land-use groups of the legend: group, name_vi, name_en, colour."""
    return tuple(read_table("land_use_groups"))


@lru_cache(maxsize=None)
def sources() -> tuple[dict, ...]:
    return tuple(read_table("land_use_colour_sources"))


def fill_expression() -> list:
    """MapLibre expression: the fill colour of a parcel from its `land_use`, codes of one colour
    in one branch. Branch labels are arrays (the style spec allows both): QGIS's style converter
    reads only those."""
    by_colour: dict[str, list[str]] = {}
    for row in colours():
        by_colour.setdefault(row["colour"], []).append(row["code"])
    expr: list = ["match", ["get", "land_use"]]
    for colour, codes in by_colour.items():
        expr += [codes, colour]
    return expr + [UNKNOWN_FILL]


def legend() -> list[dict]:
    """Groups with their names, colour and codes, in the table's order."""
    return [{"group": g["group"], "name_vi": g["name_vi"], "name_en": g["name_en"], "colour": g["colour"],
             "codes": [c["code"] for c in colours() if c["group"] == g["group"]]} for g in groups()]


def tilejson(lyr: TileLayer, *, tiles_url: str, bounds: tuple[float, float, float, float] | None,
             attribution: str = "") -> dict:
    """TileJSON 3.0.0 of a collection; `tiles_url` holds {z}, {x} and {y}."""
    doc = {
        "tilejson": "3.0.0",
        "name": lyr.title,
        "description": lyr.description,
        "version": f"1.{FORMAT_VERSION}.0",
        "scheme": "xyz",
        "tiles": [tiles_url],
        "minzoom": 0,
        "maxzoom": lyr.max_zoom,
        "vector_layers": [{"id": lyr.name, "description": lyr.description, "minzoom": lyr.min_zoom,
                           "maxzoom": lyr.max_zoom, "fields": dict(lyr.fields)}],
    }
    if attribution:
        doc["attribution"] = attribution
    if bounds is not None:
        doc["bounds"] = [round(v, 6) for v in bounds]
        doc["center"] = [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6),
                         lyr.min_zoom]
    return doc


def tileset(lyr: TileLayer, tms_id: str, *, bounds: tuple[float, float, float, float] | None,
            links: list[dict]) -> dict:
    """The OGC API – Tiles tileset metadata document of a collection in `tms_id`."""
    tms = matrix.get(tms_id)
    doc = {
        "title": lyr.title,
        "description": lyr.description,
        "dataType": "vector",
        "crs": str(tms.crs.root if hasattr(tms.crs, "root") else tms.crs),
        "tileMatrixSetURI": tms.uri,
        "layers": [{
            "id": lyr.name, "title": lyr.title, "description": lyr.description, "dataType": "vector",
            "geometryDimension": 2, "minTileMatrix": str(lyr.min_zoom), "maxTileMatrix": str(lyr.max_zoom),
            "propertiesSchema": {"type": "object", "properties": {
                name: {"type": "string" if kind == "String" else "number"} for name, kind in lyr.fields.items()}},
        }],
        "links": links,
    }
    if bounds is not None:
        doc["boundingBox"] = {"lowerLeft": [bounds[0], bounds[1]], "upperRight": [bounds[2], bounds[3]],
                              "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
        doc["tileMatrixSetLimits"] = matrix.limits(tms_id, bounds, 0, lyr.max_zoom)
    return doc


def style(*, tilejson_urls: dict[str, str], name: str = "landdb", basemap: str = "",
          basemap_attribution: str = "") -> dict:
    """The MapLibre style: parcels filled by land use, ward outlines and names, no external
    basemap unless `basemap` (an XYZ raster URL template) is given. Text is drawn by MapLibre
    from the browser's own fonts (no `glyphs`: MapLibre GL JS ≥ 5.11 renders labels locally)."""
    parcels_min = LAYERS["parcels"].min_zoom
    wards_filter = ["in", ["get", "level"], ["literal", ["ward", "commune"]]]
    style_sources: dict = {name_: {"type": "vector", "url": url} for name_, url in tilejson_urls.items()}
    layers: list[dict] = [{"id": "background", "type": "background", "paint": {"background-color": BACKGROUND}}]
    if basemap:
        style_sources["basemap"] = {"type": "raster", "tiles": [basemap], "tileSize": 256,
                                    "attribution": basemap_attribution}
        layers.append({"id": "basemap", "type": "raster", "source": "basemap"})
    layers += [
        {"id": "parcels-fill", "type": "fill", "source": "parcels", "source-layer": "parcels",
         "minzoom": parcels_min, "paint": {"fill-color": fill_expression(), "fill-opacity": 0.85}},
        {"id": "parcels-outline", "type": "line", "source": "parcels", "source-layer": "parcels",
         "minzoom": parcels_min, "paint": {"line-color": PARCEL_LINE,
                                           "line-width": ["interpolate", ["linear"], ["zoom"], 14, 0.2, 18, 1.0]}},
        {"id": "parcels-label", "type": "symbol", "source": "parcels", "source-layer": "parcels",
         "minzoom": 17, "layout": {"text-field": ["get", "land_use"], "text-size": 11},
         "paint": {"text-color": "#3A2A1A", "text-halo-color": "#FFFFFF", "text-halo-width": 1}},
        {"id": "wards-outline", "type": "line", "source": "wards", "source-layer": "wards",
         "filter": wards_filter,
         "paint": {"line-color": WARD_LINE, "line-dasharray": [4, 2],
                   "line-width": ["interpolate", ["linear"], ["zoom"], 10, 1.0, 16, 2.5]}},
        {"id": "wards-label", "type": "symbol", "source": "wards", "source-layer": "wards",
         "filter": wards_filter, "maxzoom": 16,
         "layout": {"text-field": ["get", "name"], "text-size": 13},
         "paint": {"text-color": WARD_LINE, "text-halo-color": "#FFFFFF", "text-halo-width": 1.5}},
    ]
    return {
        "version": 8,
        "name": name,
        "metadata": {"landdb:legend": legend(),
                     "landdb:colour_sources": [dict(s) for s in sources()]},
        "center": [107.07, 20.955],
        "zoom": 14,
        "sources": style_sources,
        "layers": layers,
    }
