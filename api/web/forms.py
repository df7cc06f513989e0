"""Registering a change from the parcel card (đăng ký biến động): forms, preview, confirm.

Each form is opened from a card and carries that card's `expected_version` and an
Idempotency-Key made once when the form is first shown. "Xem trước" (preview) runs the
registration as a dry run (`landdb.dry_run`: every check and effect, rolled back) and shows what
would be closed and opened; "Xác nhận" (confirm) registers exactly the body previewed — a body
changed after its preview is previewed again, not registered. A stale version answers 409 with
an offer to reload; the core's other refusals appear next to the field they name, in the
session's language (`form_errors`). A double click or a retry of the confirm carries the same key
and registers once. Only principals with `transactions:write` (officers, admins) see or post
these forms; anyone else gets 403.

The split, merge and geometry-correction forms also have a draft part (`form_drafts`): what the
officer draws on the map, uploads or picks is worked out by the core before the preview, through
`POST /parcel/<code>/register/<form>/draft` (an HTML fragment the form's script swaps in) or, without
the script, the form's own POST with `action=draft`.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets

from flask import abort, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.datastructures import MultiDict

from api.auth import current_principal
from api.db import get_session
from landdb import auth as core_auth
from landdb import daybook, dry_run, parcels, registry
from landdb.errors import Conflict, InvalidInput, LandDBError
from landdb.registry_support import LOCAL_TZ, local_today

from . import card as cards
from . import form_bodies as bodies
from . import form_drafts
from . import form_errors
from . import session as web_session
from . import views
from .views import bp

#: The forms a card offers: URL name → the registration kinds it can send.
FORMS = {
    "transfer": ("transfer", "inheritance", "gift"),
    "mortgage": ("mortgage",),
    "mortgage-release": ("mortgage_release",),
    "land-use": ("land_use_change",),
    "certificate": ("certificate_reissue",),
    "geometry": ("geometry_correction",),
    "split": ("split",),
    "merge": ("merge",),
}


def can_register() -> bool:
    """Whether the signed-in user may register changes (the card shows its forms only then)."""
    return web_session.current_user() is not None and current_principal().can(core_auth.TRANSACTIONS_WRITE)


@bp.context_processor
def _form_globals() -> dict:
    return {"can_register": can_register, "register_forms": FORMS}


def _actor() -> str:
    p = current_principal()
    return f"{p.role}:{p.name}#user{p.user_id}"


@bp.route("/parcel/<code>/register/<form>", methods=["GET", "POST"])
def register_change(code: str, form: str):
    """The form (GET), its preview or its confirmation (POST, `action` = preview | confirm | add_row)."""
    if form not in FORMS:
        abort(404)
    if web_session.current_user() is None and request.method == "GET":
        return redirect(url_for("web.sign_in", next=request.full_path))
    if not can_register():
        abort(403)
    db = get_session()
    card = cards.load(db, code, None, endpoint=f"{request.method} /parcel/{{code}}/register/{form}")
    if card.props.get("status") == "retired":
        abort(409, _("Thửa đất đã ngừng (tách hoặc hợp), không thể đăng ký biến động."))
    if request.method == "GET":
        values = MultiDict({"expected_version": str(card.props["version"]), "key": secrets.token_urlsafe(18),
                            "effective_date": local_today().isoformat(), "kind": FORMS[form][0], "rows": "1"})
        if form == "merge":
            values.update({"parcels": card.code, f"version-{card.code}": str(card.props["version"])})
        return _render(card, form, values)

    values = request.form
    action = values.get("action", "preview")
    if action == "add_row":
        values = values.copy()
        values["rows"] = str(min(bodies.rows(values) + 1, bodies.MAX_ROWS))
        return _render(card, form, values)
    if form in form_drafts.DRAFT_FORMS and form_drafts.asked(values, request.files):
        # A drawing, an upload or a parcel picked: worked out and shown, not yet previewed.
        values, errors = form_drafts.apply(db, card, form, values, request.files)
        return _render(card, form, values, errors=errors, status=422 if errors else 200)
    body, errors = bodies.build(form, card, values)
    if errors:
        return _render(card, form, values, errors=errors, status=422)
    key = values.get("key") or ""
    if action == "confirm" and values.get("previewed") == registry.fingerprint(body):
        return _confirm(db, card, form, values, body, key)
    return _preview(db, card, form, values, body, key)


def _preview(db, card, form, values, body, key):
    try:
        answer, replayed = dry_run.dry_run(db, body, actor=_actor(), idempotency_key=key)
    except Conflict as exc:
        db.rollback()
        return _conflict(card, form, values)
    except LandDBError as exc:
        db.rollback()
        return _render(card, form, values, errors=form_errors.for_form(exc), status=_status(exc))
    db.rollback()
    if replayed:
        return redirect(url_for("web.parcel", code=card.code, registered=_replayed_id(db, key)))
    values = values.copy()
    values["previewed"] = registry.fingerprint(body)
    return _render(card, form, values, preview=_preview_view(answer, card))


def _confirm(db, card, form, values, body, key):
    try:
        answer, _created = registry.register(db, body, actor=_actor(), idempotency_key=key)
        db.commit()
    except Conflict as exc:
        db.rollback()
        return _conflict(card, form, values)
    except LandDBError as exc:
        db.rollback()
        return _render(card, form, values, errors=form_errors.for_form(exc), status=_status(exc))
    except BaseException:
        db.rollback()
        raise
    opened = answer["opened"]["parcels"]
    # A split or merge opens new parcels: show the first; otherwise the parcel itself, new version.
    target = card.code if not opened else opened[0]
    # 303: the browser follows with a GET, so reloading the card never re-posts the form.
    return redirect(url_for("web.parcel", code=target, registered=answer["id"]), code=303)


def _replayed_id(db, key: str) -> int | None:
    return db.execute(text("SELECT id FROM transactions WHERE idempotency_key = :k"), {"k": key}).scalar()


def _status(exc: LandDBError) -> int:
    return {"not_found": 404, "invalid_input": 400, "forbidden": 403}.get(exc.code, 422)


def _conflict(card, form, values):
    return _render(card, form, values, conflict=True, status=409)


def _preview_view(answer: dict, card) -> dict:
    """What the preview shows: versions and rights closed and opened, parties by name where the
    card already showed them (the holders) or the form gave them (new parties)."""
    names = {}
    for r in (card.rights or {}).get("rights", []) + (card.rights or {}).get("restrictions", []):
        party = r.get("party") or {}
        if party.get("id") is not None:
            names[party["id"]] = party.get("full_name")
    out = {}
    for side in ("closed", "opened"):
        part = answer.get(side, {})
        out[side] = {
            "versions": part.get("versions", []),
            "rights": [dict(r, shown_name=names.get(r["party_id"]) or r.get("party_name")) for r in part.get("rights", [])],
            "certificates": part.get("certificates", []),
            "parcels": part.get("parcels", []),
        }
    return out


def _render(card, form, values, *, errors=None, preview=None, conflict=False, status=200, template=None):
    return views._page(
        template or f"forms/{form.replace('-', '_')}.html", status, card=card, form=form, kinds=FORMS[form],
        v=values, errors=errors or {}, preview=preview, conflict=conflict, rows=bodies.rows(values),
        holders=bodies.holders(card), mortgages=bodies.mortgages(card), land_uses=bodies.land_uses(),
        party_kinds=bodies.PARTY_KINDS, **form_drafts.context(get_session(), card, form, values))


@bp.post("/parcel/<code>/register/<form>/draft")
def register_draft(code: str, form: str):
    """The draft part of a split, merge or correction form (an HTML fragment the form's script
    swaps in): what was drawn (`line`, `drawn`), uploaded (`file`) or picked (`toggle`) worked out."""
    if form not in form_drafts.DRAFT_FORMS:
        abort(404)
    if not can_register():
        abort(403)
    db = get_session()
    # The draft shows no rights or holders: the parcel alone, so no personal data is read.
    feature = json.loads(parcels.get_parcel(db, code))
    card = cards.Card(code=feature["properties"]["parcel_code"], props=feature["properties"],
                      geometry=feature["geometry"], bbox=None, at=None, ward=None, history={})
    values, errors = form_drafts.apply(db, card, form, request.form, request.files)
    db.rollback()
    return _render(card, form, values, errors=errors, status=422 if errors else 200,
                   template=f"forms/_{form}_draft.html")


@bp.get("/registrations")
def registrations():
    """The day's registrations for the office (signed-in officers and admins): date, kind, ward
    and officer filters; each row links to its transaction and its parcels' cards."""
    if web_session.current_user() is None:
        return redirect(url_for("web.sign_in", next=request.full_path))
    if not can_register():
        abort(403)
    args = request.args
    try:
        day = dt.date.fromisoformat(args["date"]) if args.get("date") else local_today()
    except ValueError:
        raise InvalidInput(_("Ngày phải có dạng năm-tháng-ngày, ví dụ 2024-06-01."), field="date") from None
    filters = {k: (args.get(k) or "").strip() or None for k in ("kind", "ward", "officer")}
    rows = daybook.registrations_of_day(get_session(), day, **filters)
    return views._page("forms/registrations.html", day=day, filters=filters, rows=rows, kinds=list(registry.KINDS),
                       tz=LOCAL_TZ)
