"""Writes the QGIS project bench_qgis_server.py serves: landdb:parcels as QGIS Server's WFS layer.

Run with the system Python that has PyQGIS (python3-qgis), headless:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 bench/qgis_server/make_project.py SPEC.json OUT.qgs

SPEC.json (written by bench_qgis_server.py) holds the PostGIS connection, the layer — its SQL
("sql") or a table of the public schema ("table"), its "srid" (default 5899) —, the extent, the
WFS URL, the geometry precision and, for EPSG:5899, the database's own definition of it ("proj4":
its PROJ string, with the +towgs84 datum shift). Prints the layer id and the 5899 -> 4326 operation
(empty when no "proj4" is given).
"""

import json
import re
import subprocess
import sys

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsDataSourceUri,
                       QgsProject, QgsVectorLayer, QgsWkbTypes)


def pin_datum_shift(project, proj4: str, crs, wgs84) -> str:
    """Set the project's transform context to the one EPSG:5899 -> EPSG:4326 operation `proj4` gives."""
    # The datum shift: QGIS transforms EPSG:5899 <-> EPSG:4326 (the reverse is the inverse) with the
    # one operation the database's definition of EPSG:5899 (a PROJ string with +towgs84) gives,
    # set in the project's transform context, rather than one of those PROJ offers for EPSG:5899.
    # (QGIS itself would identify that string as PROJ's EPSG:5899 and drop its +towgs84, so the
    # operation comes from PROJ's projinfo, in QGIS's lon/lat order.)
    out = subprocess.run(["projinfo", "-s", proj4 + " +type=crs", "-t", "EPSG:4326", "-o", "PROJ",
                          "--single-line", "-q"], capture_output=True, text=True, check=True).stdout.strip()
    operation = out.removesuffix("+step +proj=axisswap +order=2,1").strip()
    if "+proj=helmert" not in operation or "\n" in operation:
        raise SystemExit(f"unexpected operation from {proj4} to EPSG:4326: {out}")
    ctx = project.transformContext()
    if not ctx.addCoordinateOperation(crs, wgs84, operation, False):
        raise SystemExit(f"QGIS refused the coordinate operation {operation}")
    project.setTransformContext(ctx)
    return operation


def main(spec_path: str, out_path: str) -> None:
    spec = json.load(open(spec_path))
    app = QgsApplication([], False)
    app.initQgis()
    project = QgsProject.instance()
    srid = spec.get("srid", 5899)
    crs = QgsCoordinateReferenceSystem(f"EPSG:{srid}")
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    project.setCrs(crs)
    operation = ""
    if "proj4" in spec:
        operation = pin_datum_shift(project, spec["proj4"], crs, wgs84)

    c = spec["connection"]
    uri = QgsDataSourceUri()
    uri.setConnection(c["host"], str(c["port"]), c["dbname"], c["user"], c.get("password") or "")
    if "table" in spec:
        uri.setDataSource("public", spec["table"], "geom", "", "id")
    else:
        uri.setDataSource("", f"({spec['sql']})", "geom", "", "id")
    uri.setSrid(str(srid))
    uri.setWkbType(QgsWkbTypes.MultiPolygon)
    uri.setUseEstimatedMetadata(True)
    uri.setParam("checkPrimaryKeyUnicity", "0")
    layer = QgsVectorLayer(uri.uri(False), "parcels", "postgres")
    if not layer.isValid() or layer.fields().indexOf("id") < 0:
        raise SystemExit(f"the parcels layer is not valid: {uri.uri(False)}")
    layer.setCrs(crs)
    project.addMapLayer(layer)

    ext = spec["extent"]
    project.writeEntry("WMSServiceCapabilities", "/", True)
    project.writeEntry("WMSServiceTitle", "/", "landdb (QGIS Server)")
    project.writeEntry("WMSExtent", "/", [str(v) for v in ext])
    project.writeEntry("WMSCrsList", "/", sorted({f"EPSG:{srid}", "EPSG:4326"}))
    project.writeEntry("WFSUrl", "/", spec["url"])
    project.writeEntry("WFSLayers", "/", [layer.id()])
    project.writeEntry("WFSLayersPrecision", "/" + layer.id(), spec["precision"])
    if not project.write(out_path):
        raise SystemExit(f"could not write {out_path}")
    # landdb publishes the 12 attributes, and the id as the feature id only: the id field is hidden
    # from WFS (a field configuration flag that PyQGIS 3.22 does not expose).
    with open(out_path, encoding="utf-8") as f:
        qgs = f.read()
    field = re.compile(r'<field (?=[^>]*\bname="id")[^>]*\bconfigurationFlags="None"[^>]*>')
    found = field.findall(qgs)
    if len(found) != 1:
        raise SystemExit(f"{out_path}: expected one id field in the field configuration, found {found}")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(qgs.replace(found[0], found[0].replace('configurationFlags="None"', 'configurationFlags="HideFromWfs"')))
    print(json.dumps({"layer": layer.id(), "operation": operation}))
    app.exitQgis()


if __name__ == "__main__":
    main(*sys.argv[1:3])
