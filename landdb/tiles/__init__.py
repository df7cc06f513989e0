"""Vector tiles of the public layers (OGC API – Tiles, Mapbox Vector Tiles), their caching and map style.

`mvt` renders a tile in PostGIS through the read core's query value, `cache` says what a
tile's ETag and Cache-Control are, `matrix` holds the tile matrix sets, `style` the TileJSON,
tileset metadata and the MapLibre style with its land-use colours.
"""
