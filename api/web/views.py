"""The web application's pages: map, search, parcel card, extract, verification, sign-in.

Each page renders whole (a layout with the map beside a panel) or, asked by the page's script
with `X-Fragment: 1`, only its panel, which the script swaps in without reloading the map.
"""

from __future__ import annotations

import datetime as dt

from flask import (Blueprint, Response, current_app, g, redirect, render_template, request, session,
                   url_for)
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from api.auth import current_principal, record_personal_data_read
from api.db import get_session
from landdb import auth as core_auth
from landdb import journal, lookup, parcels, timetravel, users
from landdb.errors import InvalidInput, LandDBError, NotFound
from landdb.tiles import style as tile_style

from . import card as cards
from . import labels
from . import session as web_session

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static",
               static_url_path="/assets")

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


@bp.before_request
def _before() -> None:
    web_session._load_user()
    if request.method not in _SAFE:
        from . import csrf

        csrf.protect()


@bp.after_request
def _after(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    resp.headers.setdefault("X-Frame-Options", "DENY")
    if resp.mimetype == "text/html":
        resp.headers.setdefault("Cache-Control", "no-store")
    return resp


@bp.context_processor
def _globals() -> dict:
    return {"current_user": web_session.current_user(), "lang": web_session.locale(),
            "fragment": request.headers.get("X-Fragment") == "1", "legend": _legend(),
            "ward_line": tile_style.WARD_LINE, "map_style_url": url_for("tiles.style_document", style_id="landdb")}


def _legend() -> list[tuple[str, str, str]]:
    """The land-use groups of the map's style (the OGC tiles' published style): key, name, colour."""
    name = "name_en" if web_session.locale() == "en" else "name_vi"
    return [(g["group"], g[name], g["colour"]) for g in tile_style.legend()]


@bp.app_template_filter("label")
def _label(code: str | None) -> str:
    return labels.label(code)


def _at() -> dt.date | None:
    return timetravel.parse_at(request.args.get("at") or None)


def _page(template: str, http_status: int = 200, /, **context) -> tuple[str, int]:
    context.setdefault("at", _at_or_none())
    context.setdefault("wards", _ward_choices())
    return render_template(template, **context), http_status


def _at_or_none() -> dt.date | None:
    try:
        return _at()
    except InvalidInput:
        return None


def _ward_choices() -> list[dict]:
    """Wards for the search form: the units parcels are registered under (all periods)."""
    try:
        return cards.wards(get_session())
    except Exception:  # the list is a convenience; a page must not fail for it
        return []


# --- pages --------------------------------------------------------------------------------------


@bp.get("/")
def index():
    return _page("web/index.html")


@bp.get("/search")
def search():
    q = request.args.get("q", "")
    ward = request.args.get("ward") or None
    at = _at()
    if not q.strip():
        return _page("web/search.html", 400, q=q, ward=ward, found=None,
                     error=_("Hãy nhập mã thửa, số tờ và số thửa, địa chỉ, số seri giấy chứng nhận hoặc mã định danh."))
    principal = current_principal()
    found = lookup.find(get_session(), q, ward=ward, at=at, personal=core_auth.sees_personal_data(principal))
    if found.party_ids:
        record_personal_data_read("GET /search (owners)", found.parcel_ids, found.party_ids)
    if len(found.parcels) == 1 and not found.owners and found.parcels_matched == 1:
        return redirect(url_for("web.parcel", code=found.parcels[0]["parcel_code"], at=request.args.get("at") or None))
    return _page("web/search.html", q=q, ward=ward, found=found, error=None)


@bp.get("/parcel/<code>")
def parcel(code: str):
    at = _at()
    card = cards.load(get_session(), code, at)
    return _page("web/parcel.html", card=card, tab=request.args.get("tab", "history"))


@bp.get("/parcel-at")
def parcel_at():
    """The card of the parcel at a point of the map (lon/lat in WGS 84)."""
    try:
        lon, lat = float(request.args["lon"]), float(request.args["lat"])
    except (KeyError, ValueError):
        raise InvalidInput(_("Cần kinh độ và vĩ độ (lon, lat)."), field="lon") from None
    import json

    try:
        feature = json.loads(parcels.parcel_at(get_session(), lon, lat, at=_at()))
    except NotFound:
        return _page("web/error.html", 404, message=_("Không có thửa đất tại điểm này."))
    return redirect(url_for("web.parcel", code=feature["properties"]["parcel_code"],
                            at=request.args.get("at") or None))


@bp.get("/parcel/<code>/extract.pdf")
def extract(code: str):
    from .extract import render_extract

    at = _at()
    card = cards.load(get_session(), code, at, endpoint="GET /parcel/{code}/extract.pdf")
    verify_url = url_for("web.verify", code=card.code, seq=card.latest["seq"] if card.latest else None,
                         hash=card.latest["hash"] if card.latest else None, _external=True)
    pdf = render_extract(get_session(), card, verify_url)
    resp = Response(pdf, mimetype="application/pdf")
    resp.headers["Content-Disposition"] = f'inline; filename="trich-luc-{card.code}.pdf"'
    return resp


@bp.get("/verify/<code>")
def verify(code: str):
    """Public check of an extract's verification block: the journal entry `seq` exists, its
    hash is `hash` and re-derives from its content, it links to the entry before, and it is a
    registration of parcel `code`."""
    parcels.parse_code(code)
    try:
        seq = int(request.args.get("seq", ""))
    except ValueError:
        raise InvalidInput(_("Thiếu số thứ tự (seq) của bản ghi nhật ký."), field="seq") from None
    claimed = (request.args.get("hash") or "").strip().lower()
    session = get_session()
    entry = journal.check_entry(session, seq)
    import json

    history = json.loads(parcels.parcel_history(session, code))
    of_parcel = entry is not None and any(t.get("seq") == seq for t in history.get("transactions", []))
    latest = cards.latest_registration(history)
    ok = bool(entry and entry["ok"] and entry["hash"] == claimed and of_parcel)
    status = 200 if ok else 409 if entry else 404
    return _page("web/verify.html", status, code=code, seq=seq, claimed=claimed, entry=entry,
                 of_parcel=of_parcel, ok=ok, latest=latest)


# --- sign-in --------------------------------------------------------------------------------------


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    nxt = _safe_next(request.values.get("next"))
    if request.method == "GET":
        return _page("web/sign_in.html", next=nxt, error=None, username="")
    username = request.form.get("username", "")
    if not web_session.signin_allowed():
        return _page("web/sign_in.html", 429, next=nxt, username=username,
                     error=_("Quá nhiều lần đăng nhập từ địa chỉ này. Hãy thử lại sau ít phút."))
    db = get_session()
    try:
        user = users.sign_in(db, username, request.form.get("password", ""))
    except users.AccountLocked as exc:
        db.commit()
        return _page("web/sign_in.html", 429, next=nxt, username=username,
                     error=_("Tài khoản tạm khóa do đăng nhập sai nhiều lần. Hãy thử lại sau %(time)s (UTC).",
                             time=exc.until.strftime("%H:%M")))
    except LandDBError:
        db.commit()  # the failure counts
        return _page("web/sign_in.html", 401, next=nxt, username=username,
                     error=_("Sai tên đăng nhập hoặc mật khẩu."))
    db.commit()
    web_session.sign_in(user)
    return redirect(nxt or url_for("web.index"))


def _safe_next(value: str | None) -> str | None:
    """Only paths of this site (no scheme, no host, no `//`) are followed after sign-in."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


@bp.post("/sign-out")
def sign_out():
    web_session.sign_out()
    return redirect(url_for("web.index"))


@bp.post("/language")
def language():
    lang = request.form.get("lang")
    if lang in ("vi", "en"):
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")) or url_for("web.index"))


# --- errors ---------------------------------------------------------------------------------------


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    return _page("web/error.html", 400, status=400,
                 message=_("Yêu cầu không hợp lệ (thiếu hoặc sai mã chống giả mạo CSRF). Hãy tải lại trang và thử lại."))


@bp.errorhandler(LandDBError)
def _core_error(exc: LandDBError):
    status = {"not_found": 404, "invalid_input": 400, "forbidden": 403, "unauthorized": 401}.get(exc.code, 400)
    if isinstance(exc, NotFound):
        message = _("Không tìm thấy: %(what)s", what=exc.message)
    else:
        message = exc.message
    return _page("web/error.html", status, status=status, message=message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _page("web/error.html", exc.code or 500, status=exc.code, message=exc.description)
