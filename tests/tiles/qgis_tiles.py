"""Draw landdb's parcel tiles with QGIS's own vector tile provider (headless), styled by converting
landdb's MapLibre style with QGIS's converter; print what QGIS saw and drew as JSON.

Run with the system Python that has Debian's python3-qgis:
    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/tiles/qgis_tiles.py BASE_URL LON LAT OUT.png
"""

import collections
import json
import os
import sys
import urllib.request

from qgis.core import (QgsApplication, QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsDataSourceUri,
                       QgsMapBoxGlStyleConverter, QgsMapRendererSequentialJob, QgsMapSettings, QgsPointXY,
                       QgsProject, QgsRectangle, QgsVectorTileLayer)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor

base, lon, lat, out_png = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
app = QgsApplication([], False)
app.initQgis()
uri = QgsDataSourceUri()
uri.setParam("type", "xyz")
uri.setParam("url", base + "/ogc/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}")
uri.setParam("zmin", "14")
uri.setParam("zmax", "22")
layer = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), "parcels")
out = {"valid": layer.isValid(), "min_zoom": layer.sourceMinZoom(), "max_zoom": layer.sourceMaxZoom()}
with urllib.request.urlopen(base + "/ogc/styles/landdb") as resp:
    style = json.load(resp)
converter = QgsMapBoxGlStyleConverter()
out["converted"] = converter.convert(style) == QgsMapBoxGlStyleConverter.Success
out["warnings"] = converter.warnings()[:20]
if converter.renderer():
    layer.setRenderer(converter.renderer())
mercator = QgsCoordinateReferenceSystem("EPSG:3857")
centre = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), mercator, QgsProject.instance()) \
    .transform(QgsPointXY(lon, lat))
half = 150.0
settings = QgsMapSettings()
settings.setLayers([layer])
settings.setDestinationCrs(mercator)
settings.setExtent(QgsRectangle(centre.x() - half, centre.y() - half, centre.x() + half, centre.y() + half))
settings.setOutputSize(QSize(512, 512))
settings.setBackgroundColor(QColor("#ffffff"))
job = QgsMapRendererSequentialJob(settings)
job.start()
job.waitForFinished()
image = job.renderedImage()
image.save(out_png)
counts = collections.Counter(QColor(image.pixel(x, y)).name().upper()
                             for x in range(0, image.width(), 4) for y in range(0, image.height(), 4))
out["colours"] = dict(counts.most_common(8))
print(json.dumps(out), flush=True)
# exitQgis() can crash on teardown in headless runs; the answer is already printed.
os._exit(0)
