"""GeoHash encoding, vectorised with numpy: the national parcel ID (mã định danh thửa đất)."""

from __future__ import annotations

import numpy as np

_ALPHABET = np.frombuffer(b"0123456789bcdefghjkmnpqrstuvwxyz", dtype=np.uint8)


def _spread(v: np.ndarray) -> np.ndarray:
    """Put the 30 low bits of `v` on the even bit positions of a uint64."""
    v = v.astype(np.uint64)
    for shift, mask in (
        (16, 0x0000FFFF0000FFFF),
        (8, 0x00FF00FF00FF00FF),
        (4, 0x0F0F0F0F0F0F0F0F),
        (2, 0x3333333333333333),
        (1, 0x5555555555555555),
    ):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def encode(lat, lon, precision: int = 12) -> np.ndarray:
    """GeoHashes of the points (lat, lon in degrees, WGS 84): an array of str of `precision` chars.

    Equivalent to the classic bisection algorithm (longitude first) for precision ≤ 12.
    """
    if not 1 <= precision <= 12:
        raise ValueError("precision must be 1..12")
    lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
    lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
    scale = float(1 << 30)
    lat_i = np.clip(np.floor((lat + 90.0) / 180.0 * scale), 0, scale - 1).astype(np.uint64)
    lon_i = np.clip(np.floor((lon + 180.0) / 360.0 * scale), 0, scale - 1).astype(np.uint64)
    code = (_spread(lon_i) << np.uint64(1)) | _spread(lat_i)
    chars = np.empty((lat.size, precision), dtype=np.uint8)
    for k in range(precision):
        chars[:, k] = _ALPHABET[((code >> np.uint64(55 - 5 * k)) & np.uint64(31)).astype(np.intp)]
    return np.ascontiguousarray(chars).view(f"S{precision}").ravel().astype(str).astype(object)
