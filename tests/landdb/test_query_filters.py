"""The core's filter compiler on what CQL2 adds: CASEI / ACCENTI (Vietnamese without diacritics),
IN and LIKE over them, and spatial predicates written with the literal first."""

from __future__ import annotations

import pytest
from pygeofilter import ast, values

from landdb.crs import transform
from landdb.errors import InvalidInput
from landdb.query import FEATURE_TYPES, FeatureQuery, compile_where, count

from ..factories import TEST_AREA, make_parcel, square

X, Y = TEST_AREA[0] + 1500, TEST_AREA[1] + 1500  # this module's corner of the test area


def make(session):
    make_parcel(session, wkt=square(X, Y), sheet_no=61, parcel_no=1, address="12 Phố Hạ Long")
    make_parcel(session, wkt=square(X + 20, Y), sheet_no=61, parcel_no=2, address="7 Đường Trần Hưng Đạo")
    session.flush()


def matches(session, flt) -> int:
    q = FeatureQuery(FEATURE_TYPES["parcels"])
    q.filter = ast.And(ast.Equal(ast.Attribute("sheet_no"), 61), flt)
    return count(session, q)


def fn(name, arg):
    return ast.Function(name, [arg])


ADDRESS = ast.Attribute("address")


def test_accenti_drops_diacritics_and_keeps_case(session):
    make(session)
    like = ast.Like(fn("accenti", ADDRESS), fn("accenti", "%Pho Ha Long%"), False, "%", "_", "\\", False)
    assert matches(session, like) == 1
    lower = ast.Like(fn("accenti", ADDRESS), fn("accenti", "%pho ha long%"), False, "%", "_", "\\", False)
    assert matches(session, lower) == 0
    both = ast.Like(fn("accenti", fn("casei", ADDRESS)), fn("accenti", fn("casei", "%DUONG TRAN%")),
                    False, "%", "_", "\\", False)
    assert matches(session, both) == 1
    # đ/Đ fold to d/D as well.
    assert matches(session, ast.Equal(fn("accenti", ADDRESS), fn("accenti", "7 Duong Tran Hung Dao"))) == 1


def test_casei_with_equality_and_in(session):
    make(session)
    assert matches(session, ast.Equal(fn("casei", ADDRESS), fn("casei", "12 PHỐ HẠ LONG"))) == 1
    assert matches(session, ast.In(fn("casei", ast.Attribute("land_use")), [fn("casei", "odt"), "x"], False)) == 2


def test_casei_and_accenti_together_use_the_folding_index_expression():
    q = FeatureQuery(FEATURE_TYPES["parcels"])
    q.filter = ast.Like(fn("casei", fn("accenti", ADDRESS)), fn("accenti", fn("casei", "%x%")),
                        False, "%", "_", "\\", False)
    where = compile_where(q).where
    assert where.count("landdb_fold(") == 2 and "lower(" not in where


def test_a_literal_first_spatial_predicate_means_its_converse(session):
    make(session)
    lo = transform(X - 1, Y - 1, 5899, 4326)
    hi = transform(X + 11, Y + 11, 5899, 4326)
    ring = [[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]], [lo[0], lo[1]]]
    around = values.Geometry({"type": "Polygon", "coordinates": [ring]})
    geometry = ast.Attribute("geometry")
    # The polygon contains the first parcel; the parcel does not contain the polygon.
    assert matches(session, ast.GeometryContains(around, geometry)) == 1
    assert matches(session, ast.GeometryWithin(geometry, around)) == 1
    assert matches(session, ast.GeometryContains(geometry, around)) == 0
    assert matches(session, ast.GeometryWithin(around, geometry)) == 0


def test_an_unknown_function_is_an_invalid_filter(session):
    with pytest.raises(InvalidInput) as err:
        matches(session, ast.Equal(fn("upper", ADDRESS), "X"))
    assert err.value.field == "filter"
