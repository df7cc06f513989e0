"""Load an OGC API – Features collection with QGIS's own OAPIF provider, headless; print what QGIS saw as JSON.

Run with the system Python that has Debian's python3-qgis:
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/ogc/qgis_load.py URL COLLECTION [minx,miny,maxx,maxy]
"""

import json
import os
import sys

from qgis.core import QgsApplication, QgsFeatureRequest, QgsRectangle, QgsVectorLayer

url, collection = sys.argv[1:3]
rect = [float(v) for v in sys.argv[3].split(",")] if len(sys.argv) > 3 else None
app = QgsApplication([], False)
app.initQgis()
uri = f"url='{url}' typename='{collection}' pagingEnabled='true' restrictToRequestBBOX='0' maxNumFeatures='0'"
layer = QgsVectorLayer(uri, collection, "OAPIF")
out = {"valid": layer.isValid(), "error": layer.error().summary() if not layer.isValid() else ""}
if layer.isValid():
    fields = [f.name() for f in layer.fields()]
    key = "parcel_code" if "parcel_code" in fields else "code"
    ext = layer.extent()
    feats = {}
    n = 0
    for f in layer.getFeatures():
        feats[str(f[key])] = f.geometry().asWkt(7)
        n += 1
    out.update(crs=layer.crs().authid(), fields=fields, count=n, features=feats,
               extent=[ext.xMinimum(), ext.yMinimum(), ext.xMaximum(), ext.yMaximum()])
    if rect:
        req = QgsFeatureRequest().setFilterRect(QgsRectangle(*rect)).setFlags(QgsFeatureRequest.ExactIntersect)
        out["in_rect"] = sorted(str(f[key]) for f in layer.getFeatures(req))
print(json.dumps(out), flush=True)
# exitQgis() can crash on teardown in headless runs; the answer is already printed.
os._exit(0)
