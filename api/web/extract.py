"""The parcel extract (trích lục thửa đất) as PDF, drawn with ReportLab.

The parcel and its neighbours to scale (a standard scale 1:N chosen to fit), its vertices
numbered with the length of each edge, the table of vertex coordinates in VN-2000 / TM-3
(EPSG:5899; X northing, Y easting, as Vietnamese cadastral tables write them), area, land use,
address, holders (only for principals who may see them: the card decides and logs), the date it
is valid for, and a verification block: the journal seq and hash of the latest registration and
a QR code (segno) of the public URL that re-derives and checks them. Text is set in DejaVu Sans (Debian's
fonts-dejavu-core), which has every Vietnamese glyph.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import segno

from flask_babel import gettext as _
from reportlab.graphics.shapes import Drawing, Line, Path as DrawPath, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from shapely.geometry import box, shape
from sqlalchemy.orm import Session

from landdb import parcels

from .card import Card
from .labels import label

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"),)
SCALES = (100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 25000, 50000)
#: the drawing's frame on paper.
FRAME_W, FRAME_H = 170 * mm, 88 * mm


def _fonts() -> tuple[str, str]:
    if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
        for d in FONT_DIRS:
            if (d / "DejaVuSans.ttf").is_file():
                pdfmetrics.registerFont(TTFont("DejaVuSans", str(d / "DejaVuSans.ttf")))
                pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(d / "DejaVuSans-Bold.ttf")))
                break
        else:
            raise RuntimeError("DejaVu fonts not found: install fonts-dejavu-core (scripts/install-system.sh fonts)")
    return "DejaVuSans", "DejaVuSans-Bold"


def vertices(geometry: dict) -> list[list[tuple[float, float]]]:
    """The rings of a (Multi)Polygon in order, each without its closing point."""
    polys = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    return [[tuple(c[:2]) for c in ring[:-1]] for poly in polys for ring in poly]


def _scale_for(width_m: float, height_m: float) -> int:
    need = max(width_m / (FRAME_W / mm / 1000), height_m / (FRAME_H / mm / 1000))
    return next((s for s in SCALES if s >= need), SCALES[-1])


def frame_of(geom5899: dict) -> tuple[int, object]:
    """The standard scale that fits the parcel with room around it, and the ground it frames."""
    x0, y0, x1, y1 = shape(geom5899).bounds
    scale = _scale_for((x1 - x0) * 1.5 + 4, (y1 - y0) * 1.5 + 4)
    per_m = 1000 / scale * mm
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w, half_h = FRAME_W / 2 / per_m, FRAME_H / 2 / per_m
    return scale, box(cx - half_w, cy - half_h, cx + half_w, cy + half_h)


def _drawing(geom5899: dict, neighbours: list[dict], font: str, bold: str) -> tuple[Drawing, int]:
    """The parcel (red, numbered vertices, edge lengths) and neighbours (grey, their numbers),
    to a standard scale, clipped to the frame."""
    scale, frame = frame_of(geom5899)
    per_m = 1000 / scale * mm  # points per metre on the ground
    cx, cy = frame.centroid.x, frame.centroid.y

    def xy(x: float, y: float) -> tuple[float, float]:
        return (x - cx) * per_m + FRAME_W / 2, (y - cy) * per_m + FRAME_H / 2

    d = Drawing(FRAME_W, FRAME_H)
    d.add(Rect(0, 0, FRAME_W, FRAME_H, strokeColor=colors.black, fillColor=None, strokeWidth=0.6))
    for n in neighbours:
        ng = shape(n["geometry"]).intersection(frame)
        if ng.is_empty:
            continue
        for poly in getattr(ng, "geoms", [ng]):
            if poly.geom_type != "Polygon":
                continue
            pts = [v for c in poly.exterior.coords for v in xy(*c)]
            d.add(Polygon(pts, strokeColor=colors.grey, fillColor=colors.HexColor("#f2f2f2"), strokeWidth=0.4))
            px, py = xy(*poly.representative_point().coords[0])
            d.add(String(px, py, str(n["properties"]["parcel_no"]), fontName=font, fontSize=6,
                         fillColor=colors.grey, textAnchor="middle"))
    number = 0
    for ring in vertices(geom5899):
        pts = [v for c in ring for v in xy(*c)]
        d.add(Polygon(pts, strokeColor=colors.HexColor("#c00000"), fillColor=colors.HexColor("#fde8e8"),
                      strokeWidth=1.2))
        for i, (x, y) in enumerate(ring):
            number += 1
            nx, ny = ring[(i + 1) % len(ring)]
            px, py = xy(x, y)
            d.add(String(px + 2, py + 2, str(number), fontName=bold, fontSize=7))
            mx, my = xy((x + nx) / 2, (y + ny) / 2)
            length = math.hypot(nx - x, ny - y)
            d.add(String(mx, my - 3, f"{length:.2f}", fontName=font, fontSize=6, textAnchor="middle",
                         fillColor=colors.HexColor("#333333")))
    # a north arrow and a scale bar of a round length
    d.add(Line(FRAME_W - 10 * mm, FRAME_H - 16 * mm, FRAME_W - 10 * mm, FRAME_H - 6 * mm, strokeWidth=1))
    d.add(String(FRAME_W - 10 * mm, FRAME_H - 5 * mm + 1, "B", fontName=bold, fontSize=8, textAnchor="middle"))
    bar_m = next(v for v in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if v * per_m >= 15 * mm)
    d.add(Line(4 * mm, 4 * mm, 4 * mm + bar_m * per_m, 4 * mm, strokeWidth=2))
    d.add(String(4 * mm, 6 * mm, f"{bar_m} m — 1:{scale}", fontName=font, fontSize=7))
    return d, scale


def render_extract(session: Session, card: Card, verify_url: str | None) -> bytes:
    """The extract of `card`'s parcel as PDF bytes."""
    font, bold = _fonts()
    feature = json.loads(parcels.get_parcel(session, card.code, srid=5899, at=card.at))
    geom = feature["geometry"]
    _scale, frame = frame_of(geom)
    around = parcels.query_parcels(session, frame, geometry_srid=5899, srid=5899, at=card.at, limit=400)
    neighbours = [f for f in around.features() if f["id"] != card.code]

    styles = {
        "title": ParagraphStyle("title", fontName=bold, fontSize=15, leading=19, alignment=1),
        "sub": ParagraphStyle("sub", fontName=font, fontSize=9, leading=12, alignment=1),
        "h": ParagraphStyle("h", fontName=bold, fontSize=11, leading=14, spaceBefore=6, spaceAfter=3),
        "p": ParagraphStyle("p", fontName=font, fontSize=9, leading=12),
        "small": ParagraphStyle("small", fontName=font, fontSize=7.5, leading=9.5),
    }
    p = card.props
    valid_on = card.at or dt.date.today()
    story = [
        Paragraph(_("TRÍCH LỤC THỬA ĐẤT"), styles["title"]),
        Paragraph(_("Cơ sở dữ liệu đất đai thành phố Hạ Long, tỉnh Quảng Ninh — có giá trị theo hiện trạng ngày %(d)s",
                    d=valid_on.isoformat()), styles["sub"]),
        Spacer(1, 4 * mm),
    ]
    area = f"{float(p['legal_area_m2']):.1f}" if p.get("legal_area_m2") is not None else "—"
    facts = [
        (_("Mã thửa"), card.code), (_("Mã định danh"), p.get("national_id") or "—"),
        (_("Tờ bản đồ / số thửa"), f"{p['sheet_no']} / {p['parcel_no']}"),
        (_("Phường/xã"), f"{p['ward_name']} ({p['ward_code']})"),
        (_("Loại đất"), f"{p['land_use']} — {p['land_use_name']}"),
        (_("Diện tích pháp lý"), f"{area} m²"), (_("Diện tích hình học"), f"{float(p['area_m2']):.1f} m²"),
        (_("Địa chỉ"), p.get("address") or "—"), (_("Tình trạng"), label(p.get("status"))),
    ]
    story.append(_table([[Paragraph(k, styles["p"]), Paragraph(str(v), styles["p"])] for k, v in facts],
                        [45 * mm, 125 * mm], font))
    drawing, scale = _drawing(geom, neighbours, font, bold)
    story += [Paragraph(_("Sơ đồ thửa đất (tỷ lệ 1:%(s)s)", s=scale), styles["h"]), drawing]

    rows = [[_("Điểm"), "X (m)", "Y (m)", _("Cạnh (m)")]]
    number = 0
    for ring in vertices(geom):
        for i, (x, y) in enumerate(ring):
            number += 1
            nx, ny = ring[(i + 1) % len(ring)]
            rows.append([str(number), f"{y:.2f}", f"{x:.2f}", f"{math.hypot(nx - x, ny - y):.2f}"])
    story += [Paragraph(_("Tọa độ đỉnh thửa, hệ VN-2000, múi chiếu 3°, kinh tuyến trục 107°45′ (EPSG:5899); "
                          "X hướng Bắc, Y hướng Đông; cạnh từ điểm đến điểm kế tiếp"), styles["h"]),
              _table(rows, [20 * mm, 40 * mm, 40 * mm, 30 * mm], font, header=True)]

    story.append(Paragraph(_("Chủ sử dụng"), styles["h"]))
    if card.sees_owners and card.rights:
        for r in card.rights["rights"]:
            q = r["party"]
            story.append(Paragraph(f"{label(r['kind'])}: {q.get('full_name')} — {q.get('id_kind') or ''} "
                                   f"{q.get('id_number') or ''}", styles["p"]))
    else:
        story.append(Paragraph(_("Không in trên trích lục công khai (dữ liệu cá nhân)."), styles["p"]))

    story.append(Paragraph(_("Xác minh"), styles["h"]))
    if card.latest and verify_url:
        qd = qr_drawing(verify_url, 32 * mm)
        block = [Paragraph(_("Đăng ký mới nhất: %(k)s ngày %(d)s", k=label(card.latest["kind"]),
                             d=card.latest["effective_date"]), styles["p"]),
                 Paragraph(f"{_('Nhật ký')} seq {card.latest['seq']}", styles["p"]),
                 Paragraph(f"hash {card.latest['hash']}", styles["small"]),
                 Paragraph(_("Quét mã QR hoặc mở địa chỉ sau để kiểm tra:"), styles["small"]),
                 Paragraph(verify_url.replace("&", "&amp;"), styles["small"])]
        t = Table([[block, qd]], colWidths=[130 * mm, 36 * mm])
        t.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
        story.append(t)
    else:
        story.append(Paragraph(_("Thửa chưa có đăng ký trong nhật ký."), styles["p"]))

    buf = io.BytesIO()
    doc = SimpleDocTemplate(buf, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=15 * mm,
                            bottomMargin=15 * mm, title=f"{_('Trích lục thửa đất')} {card.code}",
                            author="landdb")
    doc.build(story)
    return buf.getvalue()


def qr_drawing(data: str, side: float) -> Drawing:
    """A QR code (segno, error correction M) as one filled path: a rectangle per run of dark
    modules in a row, drawn in one go rather than one shape per module."""
    matrix = segno.make(data, error="m", micro=False).matrix
    n = len(matrix)
    quiet = 4
    cell = side / (n + 2 * quiet)
    path = DrawPath(fillColor=colors.black, strokeColor=None, strokeWidth=0)
    for r, row in enumerate(matrix):
        y = side - (quiet + r + 1) * cell
        c = 0
        while c < n:
            if row[c]:
                start = c
                while c < n and row[c]:
                    c += 1
                x0, x1 = (quiet + start) * cell, (quiet + c) * cell
                path.moveTo(x0, y)
                path.lineTo(x1, y)
                path.lineTo(x1, y + cell)
                path.lineTo(x0, y + cell)
                path.closePath()
            else:
                c += 1
    d = Drawing(side, side)
    d.add(path)
    return d


def _table(rows: list, widths: list, font: str, header: bool = False) -> Table:
    t = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONTNAME", (0, 0), (-1, -1), font), ("FONTSIZE", (0, 0), (-1, -1), 8.5),
             ("GRID", (0, 0), (-1, -1), 0.3, colors.grey), ("VALIGN", (0, 0), (-1, -1), "TOP")]
    if header:
        style += [("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")), ("ALIGN", (1, 1), (-1, -1), "RIGHT")]
    t.setStyle(TableStyle(style))
    return t
