"""GetCapabilities documents for WFS 2.0.0, 1.1.0 and 1.0.0 (what clients read to page and filter)."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from landdb.crs import SUPPORTED
from landdb.query import FEATURE_TYPES, NAMESPACE, PREFIX

from .parse import GET_FEATURE_BY_ID, VERSIONS

#: the page size when a client does not ask for one, and the largest it may ask for.
COUNT_DEFAULT = 5000
TITLE = "landdb — Hạ Long land database (WFS)"
ABSTRACT = ("Public cadastral layers of Hạ Long, Quảng Ninh: current parcels (thửa đất) and "
            "administrative units. No personal data. Native CRS VN-2000 / TM-3 107-45 (EPSG:5899).")
KEYWORDS = ("cadastre", "land", "parcels", "Hạ Long", "Quảng Ninh", "Vietnam")

FORMATS_20 = ("application/gml+xml; version=3.2", "text/xml; subtype=gml/3.1.1", "text/xml; subtype=gml/2.1.2",
              "application/json")
FORMATS_11 = ("text/xml; subtype=gml/3.1.1", "application/gml+xml; version=3.2", "text/xml; subtype=gml/2.1.2",
              "application/json")
COMPARISONS = ("PropertyIsEqualTo", "PropertyIsNotEqualTo", "PropertyIsLessThan", "PropertyIsGreaterThan",
               "PropertyIsLessThanOrEqualTo", "PropertyIsGreaterThanOrEqualTo", "PropertyIsLike",
               "PropertyIsNull", "PropertyIsBetween")
SPATIAL = ("BBOX", "Equals", "Disjoint", "Intersects", "Touches", "Crosses", "Within", "Contains", "Overlaps",
           "DWithin", "Beyond")
OPERANDS = ("gml:Envelope", "gml:Point", "gml:LineString", "gml:Polygon", "gml:MultiPoint", "gml:MultiCurve",
            "gml:MultiSurface")


def _e(value) -> str:
    return escape(str(value))


def _keywords(ns: str, words) -> str:
    return f"<{ns}:Keywords>" + "".join(f"<{ns}:Keyword>{_e(w)}</{ns}:Keyword>" for w in words) + f"</{ns}:Keywords>"


def _dcp(url: str) -> str:
    return (f'<ows:DCP><ows:HTTP><ows:Get xlink:href={quoteattr(url + "?")}/>'
            f"<ows:Post xlink:href={quoteattr(url)}/></ows:HTTP></ows:DCP>")


def _param(name: str, values) -> str:
    return (f'<ows:Parameter name="{name}"><ows:AllowedValues>'
            + "".join(f"<ows:Value>{_e(v)}</ows:Value>" for v in values)
            + "</ows:AllowedValues></ows:Parameter>")


def _param11(name: str, values) -> str:
    return f'<ows:Parameter name="{name}">' + "".join(f"<ows:Value>{_e(v)}</ows:Value>" for v in values) + "</ows:Parameter>"


def _constraint(name: str, value, ns: str = "ows") -> str:
    return f'<{ns}:Constraint name="{name}"><ows:NoValues/><ows:DefaultValue>{value}</ows:DefaultValue></{ns}:Constraint>'


def _bbox(extents: dict, name: str) -> tuple[float, float, float, float]:
    # Hạ Long's extent when a layer is still empty.
    return extents.get(name) or (106.88, 20.90, 107.22, 21.25)


def _feature_type(ft, extents: dict, crs_word: str, formats) -> str:
    """A FeatureType of the 2.0 (`crs_word` "CRS") or 1.1 ("SRS") FeatureTypeList."""
    x0, y0, x1, y1 = _bbox(extents, ft.name)
    return (
        f"<wfs:FeatureType><wfs:Name>{ft.qname}</wfs:Name><wfs:Title>{_e(ft.title)}</wfs:Title>"
        f"<wfs:Abstract>{_e(ft.abstract)}</wfs:Abstract>{_keywords('ows', ft.keywords)}"
        f"<wfs:Default{crs_word}>urn:ogc:def:crs:EPSG::5899</wfs:Default{crs_word}>"
        + "".join(f"<wfs:Other{crs_word}>urn:ogc:def:crs:EPSG::{s}</wfs:Other{crs_word}>"
                  for s in SUPPORTED if s != 5899)
        + "<wfs:OutputFormats>" + "".join(f"<wfs:Format>{_e(f)}</wfs:Format>" for f in formats)
        + "</wfs:OutputFormats>"
        f"<ows:WGS84BoundingBox><ows:LowerCorner>{x0} {y0}</ows:LowerCorner>"
        f"<ows:UpperCorner>{x1} {y1}</ows:UpperCorner></ows:WGS84BoundingBox></wfs:FeatureType>"
    )


def capabilities(version: str, url: str, extents: dict) -> str:
    """The capabilities document; `extents` maps feature type name → lon/lat bbox."""
    return {"2.0.0": _v20, "1.1.0": _v11, "1.0.0": _v10}[version](url, extents)


def _v20(url: str, extents: dict) -> str:
    ops = []
    ops.append('<ows:Operation name="GetCapabilities">' + _dcp(url) + _param("AcceptVersions", VERSIONS)
               + _param("AcceptFormats", ("text/xml",)) + _param("Sections", ("ServiceIdentification",
                 "ServiceProvider", "OperationsMetadata", "FeatureTypeList", "Filter_Capabilities"))
               + "</ows:Operation>")
    ops.append('<ows:Operation name="DescribeFeatureType">' + _dcp(url)
               + _param("outputFormat", ("application/gml+xml; version=3.2", "text/xml; subtype=gml/3.1.1",
                                         "text/xml; subtype=gml/2.1.2"))
               + "</ows:Operation>")
    ops.append('<ows:Operation name="GetFeature">' + _dcp(url) + _param("outputFormat", FORMATS_20)
               + _param("resultType", ("results", "hits"))
               + '<ows:Parameter name="at"><ows:AnyValue/><ows:Meaning>Vendor parameter (KVP, or an at attribute of a POSTed GetFeature; landdb:parcels): '
                 'the register as it stood at the end of this day, YYYY-MM-DD</ows:Meaning></ows:Parameter>'
               + _constraint("CountDefault", COUNT_DEFAULT) + _constraint("ImplementsResultPaging", "TRUE")
               + "</ows:Operation>")
    ops.append('<ows:Operation name="GetPropertyValue">' + _dcp(url) + _param("outputFormat", ("application/gml+xml; version=3.2",))
               + _param("resultType", ("results", "hits")) + "</ows:Operation>")
    ops.append('<ows:Operation name="ListStoredQueries">' + _dcp(url) + "</ows:Operation>")
    ops.append('<ows:Operation name="DescribeStoredQueries">' + _dcp(url) + "</ows:Operation>")
    constraints = [
        ("ImplementsBasicWFS", "TRUE"), ("ImplementsTransactionalWFS", "FALSE"), ("ImplementsLockingWFS", "FALSE"),
        ("KVPEncoding", "TRUE"), ("XMLEncoding", "TRUE"), ("SOAPEncoding", "FALSE"),
        ("ImplementsInheritance", "FALSE"), ("ImplementsRemoteResolve", "FALSE"),
        ("ImplementsResultPaging", "TRUE"), ("ImplementsStandardJoins", "FALSE"),
        ("ImplementsSpatialJoins", "FALSE"), ("ImplementsTemporalJoins", "FALSE"),
        ("ImplementsFeatureVersioning", "FALSE"), ("ManageStoredQueries", "FALSE"),
        ("CountDefault", COUNT_DEFAULT), ("PagingIsTransactionSafe", "FALSE"),
    ]
    types = [_feature_type(ft, extents, "CRS", FORMATS_20) for ft in FEATURE_TYPES.values()]
    conformance = [
        ("ImplementsQuery", "TRUE"), ("ImplementsAdHocQuery", "TRUE"), ("ImplementsFunctions", "FALSE"),
        ("ImplementsResourceId", "TRUE"), ("ImplementsMinStandardFilter", "TRUE"),
        ("ImplementsStandardFilter", "TRUE"), ("ImplementsMinSpatialFilter", "TRUE"),
        ("ImplementsSpatialFilter", "TRUE"), ("ImplementsMinTemporalFilter", "FALSE"),
        ("ImplementsTemporalFilter", "FALSE"), ("ImplementsVersionNav", "FALSE"), ("ImplementsSorting", "TRUE"),
        ("ImplementsExtendedOperators", "FALSE"), ("ImplementsMinimumXPath", "TRUE"),
        ("ImplementsSchemaElementFunc", "FALSE"),
    ]
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:WFS_Capabilities version="2.0.0" xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        'xmlns:ows="http://www.opengis.net/ows/1.1" xmlns:fes="http://www.opengis.net/fes/2.0" '
        'xmlns:gml="http://www.opengis.net/gml/3.2" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{PREFIX}="{NAMESPACE}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd">'
        f"<ows:ServiceIdentification><ows:Title>{_e(TITLE)}</ows:Title><ows:Abstract>{_e(ABSTRACT)}</ows:Abstract>"
        + _keywords("ows", KEYWORDS)
        + "<ows:ServiceType>WFS</ows:ServiceType>"
        + "".join(f"<ows:ServiceTypeVersion>{v}</ows:ServiceTypeVersion>" for v in VERSIONS)
        + "<ows:Fees>NONE</ows:Fees><ows:AccessConstraints>NONE</ows:AccessConstraints></ows:ServiceIdentification>"
        "<ows:ServiceProvider><ows:ProviderName>landdb</ows:ProviderName><ows:ServiceContact/></ows:ServiceProvider>"
        "<ows:OperationsMetadata>" + "".join(ops) + _param("version", VERSIONS)
        + "".join(_constraint(n, v) for n, v in constraints)
        + "</ows:OperationsMetadata>"
        "<wfs:FeatureTypeList>" + "".join(types) + "</wfs:FeatureTypeList>"
        "<fes:Filter_Capabilities><fes:Conformance>"
        + "".join(_constraint(n, v, "fes") for n, v in conformance)
        + '</fes:Conformance><fes:Id_Capabilities><fes:ResourceIdentifier name="fes:ResourceId"/></fes:Id_Capabilities>'
        "<fes:Scalar_Capabilities><fes:LogicalOperators/><fes:ComparisonOperators>"
        + "".join(f'<fes:ComparisonOperator name="{c}"/>' for c in COMPARISONS)
        + "</fes:ComparisonOperators></fes:Scalar_Capabilities><fes:Spatial_Capabilities><fes:GeometryOperands>"
        + "".join(f'<fes:GeometryOperand name="{g}"/>' for g in OPERANDS)
        + "</fes:GeometryOperands><fes:SpatialOperators>"
        + "".join(f'<fes:SpatialOperator name="{s}"/>' for s in SPATIAL)
        + "</fes:SpatialOperators></fes:Spatial_Capabilities></fes:Filter_Capabilities></wfs:WFS_Capabilities>"
    )


def _v11(url: str, extents: dict) -> str:
    ops = [
        '<ows:Operation name="GetCapabilities">' + _dcp(url) + _param11("AcceptVersions", VERSIONS)
        + _param11("AcceptFormats", ("text/xml",)) + "</ows:Operation>",
        '<ows:Operation name="DescribeFeatureType">' + _dcp(url)
        + _param11("outputFormat", ("text/xml; subtype=gml/3.1.1",)) + "</ows:Operation>",
        '<ows:Operation name="GetFeature">' + _dcp(url) + _param11("resultType", ("results", "hits"))
        + _param11("outputFormat", FORMATS_11)
        + "</ows:Operation>",
    ]
    types = [_feature_type(ft, extents, "SRS", FORMATS_11) for ft in FEATURE_TYPES.values()]
    comparisons = ("EqualTo", "NotEqualTo", "LessThan", "GreaterThan", "LessThanEqualTo", "GreaterThanEqualTo",
                   "Like", "Between", "NullCheck")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:WFS_Capabilities version="1.1.0" xmlns:wfs="http://www.opengis.net/wfs" '
        'xmlns:ows="http://www.opengis.net/ows" xmlns:ogc="http://www.opengis.net/ogc" '
        'xmlns:gml="http://www.opengis.net/gml" xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{PREFIX}="{NAMESPACE}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs http://schemas.opengis.net/wfs/1.1.0/wfs.xsd">'
        f"<ows:ServiceIdentification><ows:Title>{_e(TITLE)}</ows:Title><ows:Abstract>{_e(ABSTRACT)}</ows:Abstract>"
        + _keywords("ows", KEYWORDS)
        + "<ows:ServiceType>WFS</ows:ServiceType><ows:ServiceTypeVersion>1.1.0</ows:ServiceTypeVersion>"
        "<ows:Fees>NONE</ows:Fees><ows:AccessConstraints>NONE</ows:AccessConstraints></ows:ServiceIdentification>"
        "<ows:ServiceProvider><ows:ProviderName>landdb</ows:ProviderName><ows:ServiceContact/></ows:ServiceProvider>"
        # No DefaultMaxFeatures: a 1.1 GetFeature without maxFeatures answers every feature, and
        # QGIS would otherwise ask for that many and stop there.
        "<ows:OperationsMetadata>" + "".join(ops) + "</ows:OperationsMetadata>"
        "<wfs:FeatureTypeList><wfs:Operations><wfs:Operation>Query</wfs:Operation></wfs:Operations>"
        + "".join(types) + "</wfs:FeatureTypeList>"
        "<ogc:Filter_Capabilities><ogc:Spatial_Capabilities><ogc:GeometryOperands>"
        + "".join(f"<ogc:GeometryOperand>{g}</ogc:GeometryOperand>" for g in OPERANDS[:4])
        + "</ogc:GeometryOperands><ogc:SpatialOperators>"
        + "".join(f'<ogc:SpatialOperator name="{s}"/>' for s in SPATIAL)
        + "</ogc:SpatialOperators></ogc:Spatial_Capabilities><ogc:Scalar_Capabilities><ogc:LogicalOperators/>"
        "<ogc:ComparisonOperators>"
        + "".join(f"<ogc:ComparisonOperator>{c}</ogc:ComparisonOperator>" for c in comparisons)
        + "</ogc:ComparisonOperators></ogc:Scalar_Capabilities>"
        "<ogc:Id_Capabilities><ogc:EID/><ogc:FID/></ogc:Id_Capabilities></ogc:Filter_Capabilities>"
        "</wfs:WFS_Capabilities>"
    )


def _v10(url: str, extents: dict) -> str:
    def dcp():
        return (f'<DCPType><HTTP><Get onlineResource={quoteattr(url + "?")}/></HTTP></DCPType>'
                f"<DCPType><HTTP><Post onlineResource={quoteattr(url)}/></HTTP></DCPType>")

    types = []
    for ft in FEATURE_TYPES.values():
        x0, y0, x1, y1 = _bbox(extents, ft.name)
        types.append(
            f"<FeatureType><Name>{ft.qname}</Name><Title>{_e(ft.title)}</Title><Abstract>{_e(ft.abstract)}</Abstract>"
            f"<Keywords>{_e(', '.join(ft.keywords))}</Keywords><SRS>EPSG:5899</SRS>"
            f'<LatLongBoundingBox minx="{x0}" miny="{y0}" maxx="{x1}" maxy="{y1}"/></FeatureType>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<WFS_Capabilities version="1.0.0" xmlns="http://www.opengis.net/wfs" xmlns:ogc="http://www.opengis.net/ogc" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{PREFIX}="{NAMESPACE}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs http://schemas.opengis.net/wfs/1.0.0/WFS-capabilities.xsd">'
        f"<Service><Name>WFS</Name><Title>{_e(TITLE)}</Title><Abstract>{_e(ABSTRACT)}</Abstract>"
        f"<Keywords>{_e(', '.join(KEYWORDS))}</Keywords><OnlineResource>{_e(url)}</OnlineResource>"
        "<Fees>NONE</Fees><AccessConstraints>NONE</AccessConstraints></Service>"
        "<Capability><Request>"
        f"<GetCapabilities>{dcp()}</GetCapabilities>"
        f"<DescribeFeatureType><SchemaDescriptionLanguage><XMLSCHEMA/></SchemaDescriptionLanguage>{dcp()}</DescribeFeatureType>"
        f"<GetFeature><ResultFormat><GML2/></ResultFormat>{dcp()}</GetFeature>"
        "</Request></Capability>"
        "<FeatureTypeList><Operations><Query/></Operations>" + "".join(types) + "</FeatureTypeList>"
        "<ogc:Filter_Capabilities><ogc:Spatial_Capabilities><ogc:Spatial_Operators>"
        "<ogc:BBOX/><ogc:Equals/><ogc:Disjoint/><ogc:Intersect/><ogc:Touches/><ogc:Crosses/><ogc:Within/>"
        "<ogc:Contains/><ogc:Overlaps/><ogc:Beyond/><ogc:DWithin/>"
        "</ogc:Spatial_Operators></ogc:Spatial_Capabilities><ogc:Scalar_Capabilities><ogc:Logical_Operators/>"
        "<ogc:Comparison_Operators><ogc:Simple_Comparisons/><ogc:Like/><ogc:Between/><ogc:NullCheck/>"
        "</ogc:Comparison_Operators></ogc:Scalar_Capabilities></ogc:Filter_Capabilities></WFS_Capabilities>"
    )


def stored_queries_list(version: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:ListStoredQueriesResponse xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{PREFIX}="{NAMESPACE}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd">'
        f'<wfs:StoredQuery id="{GET_FEATURE_BY_ID}"><wfs:Title>Get feature by identifier</wfs:Title>'
        + "".join(f"<wfs:ReturnFeatureType>{ft.qname}</wfs:ReturnFeatureType>" for ft in FEATURE_TYPES.values())
        + "</wfs:StoredQuery></wfs:ListStoredQueriesResponse>"
    )


def stored_queries_describe(version: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<wfs:DescribeStoredQueriesResponse xmlns:wfs="http://www.opengis.net/wfs/2.0" '
        'xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:{PREFIX}="{NAMESPACE}" '
        'xsi:schemaLocation="http://www.opengis.net/wfs/2.0 http://schemas.opengis.net/wfs/2.0/wfs.xsd">'
        f'<wfs:StoredQueryDescription id="{GET_FEATURE_BY_ID}"><wfs:Title>Get feature by identifier</wfs:Title>'
        "<wfs:Abstract>Returns the single feature whose identifier (e.g. parcels.42) is given as ID.</wfs:Abstract>"
        '<wfs:Parameter name="ID" type="xs:string"/>'
        + "".join(
            f'<wfs:QueryExpressionText returnFeatureTypes="{ft.qname}" '
            'language="urn:ogc:def:queryLanguage:OGC-WFS::WFS_QueryExpression" isPrivate="true"/>'
            for ft in FEATURE_TYPES.values()
        )
        + "</wfs:StoredQueryDescription></wfs:DescribeStoredQueriesResponse>"
    )
