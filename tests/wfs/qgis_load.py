"""Load a WFS layer with QGIS's own WFS provider, headless; print what QGIS saw as JSON.

Run with the system Python that has Debian's python3-qgis:
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/wfs/qgis_load.py URL VERSION TYPENAME [PAGING]

PAGING: `on` (the default) ticks "Enable feature paging"; `default` leaves it to QGIS.
"""

import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorLayer

url, version, typename = sys.argv[1:4]
paging = sys.argv[4] if len(sys.argv) > 4 else "on"
app = QgsApplication([], False)
app.initQgis()
uri = f"url='{url}' typename='{typename}' version='{version}' restrictToRequestBBOX='0'"
if paging == "on":
    uri += " pagingEnabled='true'"
layer = QgsVectorLayer(uri, typename, "WFS")
out = {"valid": layer.isValid(), "error": layer.error().summary() if not layer.isValid() else ""}
if layer.isValid():
    fields = [f.name() for f in layer.fields()]
    key = "parcel_code" if "parcel_code" in fields else "code"
    feats = {str(f[key]): f.geometry().asWkt(3) for f in layer.getFeatures()}
    out.update(crs=layer.crs().authid(), fields=fields, count=len(feats), features=feats)
print(json.dumps(out), flush=True)
# exitQgis() can crash on teardown in headless runs; the answer is already printed.
os._exit(0)
