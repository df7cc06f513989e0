"""The drafts behind the split, merge and geometry-correction forms: what the officer drew on the
map, uploaded or picked, worked out by the core (`landdb.drafts`, in EPSG:5899) and shown in the
form before it is previewed. A boundary can also be edited vertex by vertex (`edit`: the vertices
dragged, in WGS 84): only those are reprojected, the others keep their EPSG:5899 coordinates.

`apply` folds a drawing (`line` for a split, `drawn` for a new boundary — GeoJSON in WGS 84, as the
map gives it), an uploaded file (`file`) or a parcel picked for a merge (`toggle`, or a code typed
in `add_code`) into the form's values: the split's children and the corrected boundary are kept
in hidden fields as EPSG:5899 GeoJSON (what the registration body sends, so nothing is reprojected
twice), a merge's parcels as codes with the version each had when picked (its `expected_version`).
A parcel that shares no boundary with those picked is refused here, with a message, before the
form is sent. `context` gives the template the draft to show: children and their areas against
the parent, the picked parcels, the old and new areas.
"""

from __future__ import annotations

import json

from flask_babel import gettext as _

from landdb import drafts
from landdb.errors import InvalidInput, LandDBError

from . import form_bodies as bodies
from . import form_errors

#: The forms with a draft, and the hidden field that holds it.
DRAFT_FORMS = ("split", "merge", "geometry")
_FIELD = {"split": "children", "merge": "parcels", "geometry": "geometry"}


def asked(values, files) -> bool:
    """Whether a POST asks for a draft rather than a preview or a confirmation."""
    upload = files.get("file")
    return (values.get("action") == "draft" or bool(values.get("toggle")) or bool(values.get("line"))
            or bool(values.get("drawn")) or bool(values.get("edit")) or bool(upload and upload.filename))


def apply(db, card, form: str, values, files):
    """`(values, errors)`: the form's values with the drawing, upload or pick folded in, and the
    errors (form field → message) when it could not be."""
    values = values.copy()
    values.poplist("previewed")  # a changed draft is previewed again before it can be confirmed
    errors: dict[str, str] = {}
    field = _FIELD[form]
    try:
        if form == "merge":
            _pick(db, values, errors)
        else:
            draft = _drawn_or_uploaded(db, card, form, values, files)
            if draft is not None:
                if form == "split":
                    values["children"] = json.dumps([c["geometry"] for c in draft["children"]])
                    for k in [k for k in values if k.startswith("child-")]:
                        values.poplist(k)  # the new children's areas start from what was measured
                else:
                    values["geometry"] = json.dumps(draft["geometry"])
    except LandDBError as exc:
        errors[field] = form_errors.message(exc)
    for transient in ("line", "drawn", "edit", "toggle", "add_code"):
        values.poplist(transient)
    return values, errors


def _drawn_or_uploaded(db, card, form, values, files) -> dict | None:
    upload = files.get("file")
    if upload and upload.filename:
        data = upload.stream.read(drafts.MAX_UPLOAD_BYTES + 1)
        return drafts.draft_from_upload(db, form, card.code, data, upload.filename)
    if form == "geometry" and values.get("edit"):
        try:
            moves = json.loads(values["edit"])
        except ValueError:
            raise InvalidInput("the drawing is not GeoJSON", field="geometry") from None
        base = bodies.geometries(values, "geometry")
        return drafts.edit_vertices(db, card.code, moves, base=base[0] if base else None)
    drawn = values.get("line" if form == "split" else "drawn")
    if not drawn:
        return None
    try:
        geometry = json.loads(drawn)
    except ValueError:
        raise InvalidInput("the drawing is not GeoJSON", field=_FIELD[form]) from None
    if form == "split":
        return drafts.split_by_line(db, card.code, geometry, crs=4326)
    return drafts.correction(db, card.code, geometry, crs=4326)


def _pick(db, values, errors: dict) -> None:
    """Add the parcel picked (`toggle` from the map, `add_code` typed) to a merge, or take it away
    when already picked; a parcel apart from the others is refused with a message."""
    code = (values.get("toggle") or values.get("add_code") or "").strip()
    if not code:
        return
    picked = bodies.merge_versions(values)
    if code in picked:
        if len(picked) > 1:
            _set_picked(values, {c: v for c, v in picked.items() if c != code})
        return
    found = drafts.merge_selection(db, list(picked) + [code])
    if found["apart"]:
        errors["parcels"] = _("Thửa %(code)s không liền kề với các thửa đã chọn: chỉ hợp được các thửa có chung "
                              "ranh giới.", code=", ".join(found["apart"]))
        return
    if found["other_ward"]:
        errors["parcels"] = _("Thửa %(code)s thuộc phường/xã khác: không hợp được.", code=", ".join(found["other_ward"]))
        return
    version = next(p["version"] for p in found["parcels"] if p["code"] == code)
    _set_picked(values, {**picked, code: version})


def _set_picked(values, picked: dict[str, int]) -> None:
    for k in [k for k in values if k.startswith("version-")]:
        values.poplist(k)
    values.setlist("parcels", list(picked))
    for c, v in picked.items():
        values[f"version-{c}"] = str(v)


def context(db, card, form: str, values) -> dict:
    """What the form's draft part shows: `draft` (the core's answer for what the form holds) and
    `draft_error` when it cannot be worked out any more (a picked parcel retired meanwhile…)."""
    if form not in DRAFT_FORMS:
        return {}
    try:
        if form == "merge":
            picked = bodies.merge_versions(values) or {card.code: card.props["version"]}
            draft = drafts.merge_selection(db, list(picked))
            for p in draft["parcels"]:
                p["picked_version"] = picked.get(p["code"])
        else:
            geometries = bodies.geometries(values, _FIELD[form])
            if geometries is None:
                return {"draft": None}
            if form == "split":
                draft = drafts.split_children(db, card.code, geometries, crs="EPSG:5899")
                if not draft["ok"]:
                    draft["message"] = form_errors.message(InvalidInput(draft["problem"] or ""))
            else:
                draft = drafts.correction(db, card.code, geometries, crs="EPSG:5899")
    except LandDBError as exc:
        db.rollback()
        return {"draft": None, "draft_error": form_errors.message(exc)}
    db.rollback()
    return {"draft": draft, "draft_shapes": _shapes(form, draft)}


def _shapes(form: str, draft: dict) -> dict:
    """The draft as a GeoJSON FeatureCollection in WGS 84 for the map (numbered as in the form)."""
    if form == "merge":
        items = [(p["code"], p["geometry"]) for p in draft["parcels"]]
    elif form == "split":
        items = [(str(i + 1), c["wgs84"]) for i, c in enumerate(draft["children"])]
    else:
        items = [("new", draft["wgs84"])]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"label": label, "n": i}, "geometry": g} for i, (label, g) in enumerate(items)]}
