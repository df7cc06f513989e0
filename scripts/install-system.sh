#!/usr/bin/env bash
# Install the Debian packages landdb needs (PostgreSQL + PostGIS, GDAL's tools) when they are missing.
#   scripts/install-system.sh [postgis] [gdal] [qgis] [chromium] [redis] [mapserver] [qgis-server] [poppler] [fonts]
set -euo pipefail

want=()
for what in "${@:-postgis}"; do
  case "$what" in
    postgis)
      if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 \
         || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
        want+=(postgresql postgresql-contrib postgresql-15-postgis-3)
      fi ;;
    gdal)
      command -v ogrinfo >/dev/null 2>&1 || want+=(gdal-bin) ;;
    qgis)
      # QGIS's own WFS provider, driven headless by tests/wfs/test_qgis.py.
      /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1 || want+=(python3-qgis qgis-providers) ;;
    chromium)
      # Debian's Chromium, driven headless by Playwright in the browser tests (tests/browser.py);
      # Playwright never downloads a browser of its own. DejaVu gives map labels a font.
      [ -x /usr/bin/chromium ] || want+=(chromium)
      [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || want+=(fonts-dejavu-core) ;;
    redis)
      # The shared rate-limit store two app instances use in tests/replica (started on a free port).
      command -v redis-server >/dev/null 2>&1 || want+=(redis-server) ;;
    mapserver)
      # MapServer 8 as a FastCGI WFS behind lighttpd, for bench/bench_mapserver.py (not part of landdb).
      { [ -x /usr/lib/cgi-bin/mapserv ] && command -v spawn-fcgi >/dev/null 2>&1 \
          && command -v lighttpd >/dev/null 2>&1; } || want+=(cgi-mapserver mapserver-bin spawn-fcgi lighttpd) ;;
    qgis-server)
      # QGIS Server 3 as a FastCGI WFS and OGC API (wfs3) behind lighttpd, for bench/bench_qgis_server.py
      # and bench/bench_ogcapi.py (not part of landdb); projinfo derives the project's datum shift.
      { [ -x /usr/lib/cgi-bin/qgis_mapserv.fcgi ] && [ -e /usr/lib/qgis/server/libwfs.so ] \
          && [ -e /usr/lib/qgis/server/libwfs3.so ] && command -v projinfo >/dev/null 2>&1 \
          && command -v spawn-fcgi >/dev/null 2>&1 && command -v lighttpd >/dev/null 2>&1; } \
          || want+=(qgis-server qgis-server-wfs qgis-server-wfs3 proj-bin spawn-fcgi lighttpd) ;;
    poppler)
      # pdftotext / pdftoppm: the tests read the parcel extract's text and its QR code.
      command -v pdftotext >/dev/null 2>&1 || want+=(poppler-utils) ;;
    fonts)
      # DejaVu Sans (every Vietnamese glyph) for the parcel extract PDF.
      [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || want+=(fonts-dejavu-core) ;;
    *) echo "install-system.sh: unknown component $what" >&2; exit 2 ;;
  esac
done

[ ${#want[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "landdb needs these Debian packages: ${want[*]}" >&2
  echo "Install them (sudo apt-get install ${want[*]}) or set DATABASE_URL to a PostGIS server." >&2
  exit 1
fi
echo "Installing ${want[*]} from Debian…" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
