"""The message catalogues: every text of the web application has its English, and the compiled
catalogue is the one the sources say."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

WEB = Path(__file__).resolve().parents[2] / "api" / "web"
EN = WEB / "translations" / "en" / "LC_MESSAGES"


def _extracted() -> set[str]:
    methods = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    return {msg for _file, _line, msg, _comments, _ctx in extract_from_dir(str(WEB), methods, keywords=keywords)
            if isinstance(msg, str)}


def test_every_text_has_an_english_translation():
    with (EN / "messages.po").open("rb") as f:
        catalog = read_po(f)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(_extracted() - translated)
    assert missing == [], "run pybabel extract/update (README, 'Web application') and translate: " + repr(missing[:5])


def test_compiled_catalogue_matches_its_source():
    with (EN / "messages.po").open("rb") as f:
        po = {m.id: m.string for m in read_po(f) if m.id}
    with (EN / "messages.mo").open("rb") as f:
        mo = {m.id: m.string for m in read_mo(f) if m.id}
    assert mo == po, "run: pybabel compile -d api/web/translations"
