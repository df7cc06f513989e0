"""What the README and the docstrings say about the package is true of it."""

from __future__ import annotations

import ast
import importlib
import textwrap
import tomllib
from pathlib import Path

import api.auth
from api import create_app
from landdb.config import Settings

ROOT = Path(__file__).resolve().parents[1]


def offline_app(**overrides):
    """An app that never connects (its routes and documents only)."""
    return create_app(Settings(database_url="postgresql://nobody@/nowhere?host=/nonexistent", **overrides),
                      testing=True)


def test_package_data_lists_exactly_the_data_files():
    """Every pattern in a subpackage that exists matches files, and every file beside the code
    (templates, static assets, reference CSV) is matched: an installed package has what the
    checkout has."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = config["tool"]["setuptools"]["package-data"]
    for package, patterns in listed.items():
        for pattern in patterns:
            if (ROOT / package / pattern.split("/")[0]).exists() or "/" not in pattern:
                assert list((ROOT / package).glob(pattern)), f"{package}/{pattern} matches nothing"
    for package in ("api", "landdb"):
        covered = {p for pattern in listed.get(package, []) for p in (ROOT / package).glob(pattern)}
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
                assert path in covered, f"{path.relative_to(ROOT)} is not in pyproject's package-data"


def test_bench_routes_are_registered_only_when_enabled():
    def bench_rules(app):
        return [r.rule for r in app.url_map.iter_rules() if "bench" in r.rule]

    assert bench_rules(offline_app()) == []
    on = bench_rules(offline_app(extra={"bench_routes": "1", "wfs_bench": "1"}))
    assert "/wfs/_bench/constant" in on and "/api/v1/bench/constant" in on


def test_the_auth_module_example_uses_only_what_exists():
    doc = api.auth.__doc__
    example = textwrap.dedent(doc.split("How a view uses it (for everyone writing endpoints):")[1].split("\n- ")[0])
    tree = ast.parse(example)
    modules = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                value = getattr(module, alias.name, None)
                if value is None:  # a submodule
                    value = importlib.import_module(f"{node.module}.{alias.name}")
                modules[alias.asname or alias.name] = value
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
            assert hasattr(modules[node.value.id], node.attr), f"{node.value.id}.{node.attr} does not exist"
    assert "parcel_rights" in example
    assert "DESIGN" not in doc  # cite only what the repository holds
