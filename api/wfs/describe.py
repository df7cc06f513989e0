"""DescribeFeatureType: one self-contained XML Schema per GML version (plain xs: types, one prefix)."""

from __future__ import annotations

from landdb.query import NAMESPACE, PREFIX, FeatureType

GML = {
    "gml32": ("http://www.opengis.net/gml/3.2", "http://schemas.opengis.net/gml/3.2.1/gml.xsd",
              "gml:AbstractFeature", "gml:MultiSurfacePropertyType"),
    "gml311": ("http://www.opengis.net/gml", "http://schemas.opengis.net/gml/3.1.1/base/gml.xsd",
               "gml:_Feature", "gml:MultiSurfacePropertyType"),
    "gml2": ("http://www.opengis.net/gml", "http://schemas.opengis.net/gml/2.1.2/feature.xsd",
             "gml:_Feature", "gml:MultiPolygonPropertyType"),
}


def schema(types: list[FeatureType], fmt: str) -> str:
    """The application schema of the given feature types for output format `fmt` (a GML one)."""
    ns, location, head, geom_type = GML[fmt if fmt in GML else "gml32"]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:gml="{ns}" xmlns:{PREFIX}="{NAMESPACE}" '
        f'targetNamespace="{NAMESPACE}" elementFormDefault="qualified" attributeFormDefault="unqualified" version="1.0">'
        f'<xs:import namespace="{ns}" schemaLocation="{location}"/>'
    ]
    for ft in types:
        parts.append(
            f'<xs:complexType name="{ft.name}Type"><xs:complexContent>'
            '<xs:extension base="gml:AbstractFeatureType"><xs:sequence>'
        )
        for p in ft.published:
            parts.append(f'<xs:element name="{p.name}" type="xs:{p.xsd}" minOccurs="0" maxOccurs="1"/>')
        parts.append(f'<xs:element name="{ft.geometry_name}" type="{geom_type}" minOccurs="0" maxOccurs="1"/>')
        parts.append(
            "</xs:sequence></xs:extension></xs:complexContent></xs:complexType>"
            f'<xs:element name="{ft.name}" type="{PREFIX}:{ft.name}Type" substitutionGroup="{head}"/>'
        )
    parts.append("</xs:schema>")
    return "".join(parts)
