#!/usr/bin/env bash
# Refresh the vendored web assets in api/static/vendor from the npm registry (pinned, hash-checked).
set -euo pipefail
cd "$(dirname "$0")/.."
MAPLIBRE=5.24.1
MAPLIBRE_SHA256=b84d7fdf7fba5922fd3fff9a92733936c7a03b99165afc6c84f41c311bdbfa9d
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack -q "maplibre-gl@$MAPLIBRE" >/dev/null)
echo "$MAPLIBRE_SHA256  $tmp/maplibre-gl-$MAPLIBRE.tgz" | sha256sum -c -
tar xzf "$tmp/maplibre-gl-$MAPLIBRE.tgz" -C "$tmp"
dest=api/static/vendor/maplibre-gl
mkdir -p "$dest"
cp "$tmp/package/dist/maplibre-gl.js" "$tmp/package/dist/maplibre-gl.css" "$tmp/package/LICENSE.txt" "$dest/"
