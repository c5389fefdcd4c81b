"""The house's floors (STYLE.md section 1): who may import whom."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = {"api", "datahub_assets", "resources", "sensors"}
ALLOWED: dict[str, set[str]] = {
    "resources": set(),
    "sensors": {"resources"},
    "datahub_assets.engine": set(),
    "datahub_assets": {"resources", "sensors"},
    "api": {"resources", "datahub_assets.engine", "datahub_assets.window", "datahub_assets.cache"},
}


def layer_of(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return "datahub_assets.engine" if parts[:2] == ("datahub_assets", "engine") else parts[0]


def imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def allowed(layer: str, module: str, path: Path | None = None) -> bool:
    top = module.split(".")[0]
    if top not in PROJECT:
        if layer != "datahub_assets.engine":
            return True
        # The engine computes: frames and arrays in, no I/O, no clock. Its kernels module alone runs series on
        # threads (it asks the OS how many cores it has and resets its pool in a forked child).
        threads = path is not None and path.name == "kernels.py" and top in _THREADS
        return top in _ENGINE_LIBS or top in _STDLIB or threads
    if module == layer or module.startswith(layer + "."):
        return True
    if layer == "datahub_assets" and module.startswith("datahub_assets."):
        return True
    return any(module == a or module.startswith(a + ".") for a in ALLOWED[layer])


_STDLIB = {"__future__", "collections", "dataclasses", "datetime", "typing", "math", "functools", "itertools"}
_ENGINE_LIBS = {"polars", "numpy", "numba", "llvmlite", "pyarrow"}  # llvmlite: numba's code generator
_THREADS = {"os", "threading", "concurrent"}
FILES = sorted(p for pkg in PROJECT for p in (ROOT / pkg).rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_respect_the_layers(path: Path) -> None:
    layer = layer_of(path)
    bad = [f"{path.name}:{line} imports {module}" for line, module in imports(path) if not allowed(layer, module, path)]
    assert not bad, f"{layer} may not import: {bad}"


def test_only_definitions_imports_sensors() -> None:
    users = {p.relative_to(ROOT).as_posix() for p in FILES if layer_of(p) != "sensors"
             and any(m.split(".")[0] == "sensors" for _, m in imports(p))}
    assert users == {"datahub_assets/definitions.py"}


def test_package_inits_are_empty() -> None:
    for pkg in PROJECT:
        for init in (ROOT / pkg).rglob("__init__.py"):
            assert init.read_text().strip() == "", init
