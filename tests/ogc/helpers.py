"""OGC API test helpers: offline validation against the OGC API – Features schemas in `schemas/`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jsonschema_rs
import yaml

SCHEMAS = Path(__file__).parent / "schemas"


def _load(name: str) -> dict:
    return yaml.safe_load((SCHEMAS / f"{name}.yaml").read_text())


def _retrieve(uri: str) -> dict:
    if not uri.startswith("urn:"):
        raise ValueError(f"validation never fetches {uri}")
    return _load(uri.split(":", 1)[1])


@lru_cache(maxsize=None)
def _validator(name: str):
    return jsonschema_rs.validator_for(_load(name), retriever=_retrieve)


def validate(doc: dict, schema: str) -> None:
    """Raise (with every error listed) unless `doc` is valid against schemas/<schema>.yaml."""
    errors = [f"{'/'.join(map(str, e.instance_path))}: {e.message}" for e in _validator(schema).iter_errors(doc)]
    assert not errors, f"not a valid {schema}: " + "; ".join(errors[:10])
