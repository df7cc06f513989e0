#!/usr/bin/env bash
# Refresh the vendored web assets in api/static/vendor (and the tests' axe-core in tests/vendor)
# from the npm registry (pinned, hash-checked).
set -euo pipefail
cd "$(dirname "$0")/.."
MAPLIBRE=5.24.1
MAPLIBRE_SHA256=b84d7fdf7fba5922fd3fff9a92733936c7a03b99165afc6c84f41c311bdbfa9d
PROJ4=2.22.0
PROJ4_SHA256=7192ce47111f28ae8c47a39b583ea419202fbc216fe6303117cb1567b42e52d7
AXE=4.14.1
AXE_SHA256=e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

fetch() {  # fetch NAME VERSION SHA256: the npm tarball, checked, unpacked in $tmp/NAME
  (cd "$tmp" && npm pack -q "$1@$2" >/dev/null)
  echo "$3  $tmp/$1-$2.tgz" | sha256sum -c -
  mkdir -p "$tmp/$1" && tar xzf "$tmp/$1-$2.tgz" -C "$tmp/$1"
}

fetch maplibre-gl "$MAPLIBRE" "$MAPLIBRE_SHA256"
dest=api/static/vendor/maplibre-gl
mkdir -p "$dest"
cp "$tmp/maplibre-gl/package/dist/maplibre-gl.js" "$tmp/maplibre-gl/package/dist/maplibre-gl.css" \
   "$tmp/maplibre-gl/package/LICENSE.txt" "$dest/"

fetch proj4 "$PROJ4" "$PROJ4_SHA256"
dest=api/static/vendor/proj4
mkdir -p "$dest"
cp "$tmp/proj4/package/dist/proj4.js" "$tmp/proj4/package/LICENSE.md" "$dest/"

# The accessibility rules the browser tests run (tests/web/test_accessibility.py); not served.
fetch axe-core "$AXE" "$AXE_SHA256"
dest=tests/vendor/axe-core
mkdir -p "$dest"
cp "$tmp/axe-core/package/axe.min.js" "$tmp/axe-core/package/LICENSE" "$dest/"
