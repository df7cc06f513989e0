"""The import's validation report for people: problems grouped by kind (count, first and last
row, an example), and every rejected row with its reasons written next to the input as a
GeoPackage layer an officer opens in QGIS to fix the data (CSV when no GeoPackage can be
written)."""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pyogrio

from .import_file import ImportResult, Problem

#: the layer name in the rejected-rows GeoPackage.
REJECTED_LAYER = "rejected"


@dataclass
class Group:
    """Problems of one kind: how many rows, the first and last, and the first as an example."""

    severity: str
    code: str
    problems: list[Problem]

    @property
    def rows(self) -> list[int]:
        return sorted({p.row for p in self.problems if p.row is not None})

    def __str__(self) -> str:
        rows, example = self.rows, self.problems[0]
        if not rows:  # file-wide findings: each one in full
            return "\n".join(f"{p.severity}: {p.message}" for p in self.problems)
        if len(rows) == 1:
            return f"{self.severity}: row {example.row}: {example.message}"
        return (f"{self.severity}: {self.code} in {len(rows):,} rows ({rows[0]} to {rows[-1]}), "
                f"e.g. row {example.row}: {example.message}")


def group_problems(problems: list[Problem]) -> list[Group]:
    """Problems grouped by (severity, code): errors first, then the largest groups; within a
    group, in row order (file-wide problems first)."""
    groups: dict[tuple[str, str], list[Problem]] = defaultdict(list)
    for p in sorted(problems, key=lambda p: (p.row is not None, p.row or 0)):
        groups[(p.severity, p.code)].append(p)
    out = [Group(sev, code, found) for (sev, code), found in groups.items()]
    return sorted(out, key=lambda g: (g.severity != "error", -len(g.problems), g.problems[0].row or 0))


def rejected_path(source: Path) -> Path:
    """Where the rejected rows of `source` go: beside it, `NAME.rejected.gpkg`."""
    return source.with_name(f"{source.stem}.rejected.gpkg")


def write_rejected(result: ImportResult, source: Path, target: Path | None = None) -> Path | None:
    """Write the rows with errors — their own fields and geometry as read, plus `landdb_row`
    (the 1-based feature number), `landdb_problems` (codes) and `landdb_reasons` — to a
    GeoPackage layer `rejected` (replaced if there), or to CSV with WKT geometry when GDAL
    cannot write that GeoPackage. Returns the path written, or None when no row has an error."""
    reasons: dict[int, list[Problem]] = defaultdict(list)
    for p in result.errors:
        if p.row is not None:
            reasons[p.row].append(p)
    if not reasons:
        return None
    rows = sorted(reasons)
    frame = pyogrio.read_dataframe(source, layer=result.layer)
    picked = frame.iloc[[r - 1 for r in rows if r <= len(frame)]].copy()
    kept = [r for r in rows if r <= len(frame)]
    picked.insert(0, "landdb_reasons", ["; ".join(p.message for p in reasons[r]) for r in kept])
    picked.insert(0, "landdb_problems", [", ".join(dict.fromkeys(p.code for p in reasons[r])) for r in kept])
    picked.insert(0, "landdb_row", kept)
    target = target or rejected_path(source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pyogrio warns about a missing CRS: the file had none either
            pyogrio.write_dataframe(picked, target, layer=REJECTED_LAYER, driver="GPKG")
        return target
    except Exception:  # an exotic geometry or field type GeoPackage cannot hold: plain CSV
        csv = target.with_suffix(".csv")
        table = picked.drop(columns=picked.geometry.name)
        table["wkt"] = picked.geometry.to_wkt()
        table.to_csv(csv, index=False)
        return csv
