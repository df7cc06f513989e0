"""numberMatched is cheap: counted up to LANDDB_COUNT_LIMIT and "unknown" past it; the last page is not counted."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from landdb import query as features
from landdb.query import PARCELS, FeatureQuery

from .helpers import call, validate
from .test_wfs import fids, get_feature, grid_bbox

LIMIT = 5


@pytest.fixture(params=["get", "post"])
def mode(request):
    return request.param


@pytest.fixture
def app(settings, connection):
    """The WFS app with a count limit of 5 (the grid has 12 parcels)."""
    from api import create_app

    maker = sessionmaker(bind=connection, join_transaction_mode="create_savepoint")
    return create_app(settings.with_(rate_limit="", rate_limit_public="", count_limit=LIMIT), testing=True,
                      sessionmaker=maker)


def _bbox(grid, rows=None):
    cells = grid if rows is None else [g for g in grid if g["y0"] in rows]
    return ",".join(str(v) for v in grid_bbox(cells))


def test_past_the_limit_is_unknown_with_next_links_to_an_exact_last_page(client, mode, grid):
    root = validate(get_feature(client, mode, bbox=_bbox(grid), count=5).data, client)
    seen = fids(root)
    assert root.get("numberMatched") == "unknown" and root.get("numberReturned") == "5"
    matched = [root.get("numberMatched")]
    while root.get("next"):
        root = validate(client.get(root.get("next").replace("http://localhost", "")).data, client)
        seen += fids(root)
        matched.append(root.get("numberMatched"))
    # The last (short) page says the exact number: startIndex + numberReturned.
    assert matched == ["unknown", "unknown", "12"] and root.get("numberReturned") == "2"
    assert sorted(seen) == sorted(g["fid"] for g in grid) and len(set(seen)) == 12


def test_hits_past_the_limit_are_unknown(client, mode, grid):
    root = validate(get_feature(client, mode, bbox=_bbox(grid), resultType="hits").data, client)
    assert root.get("numberMatched") == "unknown" and root.get("numberReturned") == "0" and len(root) == 0
    body = json.loads(get_feature(client, mode, bbox=_bbox(grid), resultType="hits",
                                  outputFormat="application/json").data)
    assert body["numberMatched"] is None and body["numberReturned"] == 0


def test_wfs_1_1_hits_stay_exact(client, mode, grid):
    # numberOfFeatures has no "unknown" in WFS 1.1.
    r = call(client, mode, {"service": "WFS", "version": "1.1.0", "request": "GetFeature",
                            "typeName": "landdb:parcels", "bbox": _bbox(grid), "resultType": "hits"})
    assert validate(r.data, client).get("numberOfFeatures") == "12"


def test_geojson_past_the_limit_has_null_and_a_next_link(client, mode, grid):
    body = json.loads(get_feature(client, mode, bbox=_bbox(grid), outputFormat="application/json", count=4).data)
    assert body["numberMatched"] is None and body["numberReturned"] == 4 == len(body["features"])
    assert [link["rel"] for link in body["links"]] == ["next"]


def test_under_the_limit_is_exact(client, mode, grid):
    row = _bbox(grid, rows={grid[0]["y0"]})  # the first row of the grid: 4 parcels
    root = validate(get_feature(client, mode, bbox=row, count=2).data, client)
    assert root.get("numberMatched") == "4" and root.get("numberReturned") == "2" and root.get("next")
    root = validate(get_feature(client, mode, bbox=row, count=4).data, client)
    assert root.get("numberMatched") == "4" and root.get("numberReturned") == "4" and root.get("next") is None
    root = validate(get_feature(client, mode, bbox=row, resultType="hits").data, client)
    assert root.get("numberMatched") == "4"


def test_get_property_value_hits_past_the_limit(client, mode, grid):
    r = call(client, mode, {"service": "WFS", "version": "2.0.0", "request": "GetPropertyValue",
                            "typeNames": "landdb:parcels", "valueReference": "parcel_code", "resultType": "hits",
                            "bbox": _bbox(grid)})
    assert validate(r.data, client).get("numberMatched") == "unknown"


def _count_loops(session, q: FeatureQuery) -> tuple[list, list]:
    """(rows, how often each InitPlan of the statement ran) for the lazily counted page of `q`."""
    sql, params = features.select_sql(q, "geojson", count_limit=LIMIT, lazy_count=True)
    rows = session.execute(text(sql), params).all()
    plan = session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql), params).scalar_one()
    loops = []

    def walk(node):
        if node.get("Parent Relationship") == "InitPlan":
            loops.append(node.get("Actual Loops", 0))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return rows, loops


def test_the_last_page_is_not_counted(session, grid):
    q = FeatureQuery(PARCELS, start=10, count=5)
    q.add("f.sheet_no = :s", s=77)
    rows, loops = _count_loops(session, q)
    assert len(rows) == 2 and [r[0] for r in rows] == [None, None]
    assert loops == [0]  # the count never ran
    q = FeatureQuery(PARCELS, start=0, count=5)
    q.add("f.sheet_no = :s", s=77)
    rows, loops = _count_loops(session, q)
    # A full page counts once, up to the cap (limit + 1 = 6 rows: "more than 5").
    assert [r[0] for r in rows] == [None] * 4 + [LIMIT + 1] and loops == [1]


def test_ogr2ogr_pages_through_unknown_counts(live_url, grid, session, tmp_path):
    import pyogrio

    from .conftest import current_parcel_count
    from .test_clients import run

    expected = current_parcel_count(session)
    assert expected > LIMIT
    target = tmp_path / "parcels.gpkg"
    run("ogr2ogr", "-f", "GPKG", str(target), f"WFS:{live_url}", "landdb:parcels", "-nln", "parcels",
        env={"OGR_WFS_PAGING_ALLOWED": "ON", "OGR_WFS_PAGE_SIZE": "4"})
    df = pyogrio.read_dataframe(target, layer="parcels")
    assert len(df) == expected and df["parcel_code"].is_unique
