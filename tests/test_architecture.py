"""The house rules of docs/architecture.md, checked on the source: which package may import
which, no import cycle, no long function, and no chest-X-ray fact outside the `cxr` family.

Read with `ast` (nothing is imported), so a rule broken in a module no test runs still
fails here.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "unimed_kedro"
MAX_FUNCTION_LINES = 60

# package -> the packages of ours it may import (besides itself). Shared mechanisms sit
# low: io imports nothing of ours, schema only io (its tables spill to scratch folders);
# the engine and the writers never read raw data; nothing imports a collection.
ALLOWED = {
    "io": set(),
    "schema": {"io"},
    "engine": {"io"},
    "writers": {"io", "schema"},
    "imaging": {"io", "schema"},
    "volumes": {"io", "schema", "writers"},
    "sources": {"schema"},
    "captions": {"schema"},
    "splitting": {"schema"},
    "reporting": {"schema", "imaging"},
    "datasets": {"engine", "io", "imaging", "schema", "sources", "writers"},
    "stages": {
        "captions",
        "datasets",
        "engine",
        "imaging",
        "io",
        "reporting",
        "schema",
        "sources",
        "splitting",
        "volumes",
        "writers",
    },
    "sampledata": {"sources"},
}
# Beneath every package: the process's memory policy (`allocator.py`), which imports
# nothing of ours; a step that frees a large table may give the heap back (`trim`).
BENEATH = {"allocator"}
# Where chest X-ray facts (its sources, its labels) may be written.
# (`unimed` composes the chest family with UniMed's other sources)
CXR_PLACES = ("sources/cxr/", "captions/cxr/", "pipelines/cxr/", "pipelines/unimed/", "sampledata/")
CXR_FACT = re.compile(r"\b(cxr|chexpert|mimic|nih|openi|no_finding|chest)\b", re.IGNORECASE)


def _modules() -> dict[str, Path]:
    return {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in sorted(PACKAGE.rglob("*.py"))
    }


def _imports(path: Path) -> set[str]:
    """Modules of ours that `path` imports at run time (not under `if TYPE_CHECKING`)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.startswith("unimed_kedro.")}
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_packages_import_only_what_the_rules_allow():
    assert not any(_imports(PACKAGE / f"{m}.py") for m in BENEATH)
    broken = []
    for module, path in _modules().items():
        package = _package(module)
        if package not in ALLOWED:
            continue
        for target in _imports(path):
            other = _package(target)
            if other != package and other not in ALLOWED[package] | BENEATH:
                broken.append(f"{module} imports {target}")
    assert not broken, broken


def test_no_module_imports_a_collection():
    allowed = {"unimed_kedro.pipeline_registry", "unimed_kedro.dvc_stages"}
    broken = [
        f"{m} imports {t}"
        for m, p in _modules().items()
        if not m.startswith("unimed_kedro.pipelines") and m not in allowed
        for t in _imports(p)
        if t.startswith("unimed_kedro.pipelines")
    ]
    assert not broken, broken


def test_no_import_cycle():
    modules = _modules()
    graph = {
        m: {t if t in modules else t.rsplit(".", 1)[0] for t in _imports(p)} & set(modules)
        for m, p in modules.items()
    }
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        if module in path:
            pytest.fail("import cycle: " + " -> ".join(path[path.index(module) :] + [module]))
        if module in done:
            return
        for target in sorted(graph[module] - {module}):
            visit(target, path + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])


def test_no_function_is_longer_than_the_limit():
    long = []
    for module, path in _modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{module}.{node.name}: {lines} lines")
    assert not long, long


def _code_words(path: Path) -> set[str]:
    """Identifiers and string constants of a module, docstrings and comments left out."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(n.body[0].value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
        and n.body
        and isinstance(n.body[0], ast.Expr)
        and isinstance(n.body[0].value, ast.Constant)
    }
    words = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            words.add(node.value)
        elif isinstance(node, ast.Name):
            words.add(node.id)
        elif isinstance(node, ast.Attribute):
            words.add(node.attr)
    return words


def test_chest_xray_facts_live_in_the_cxr_family_only():
    found = []
    for _module, path in _modules().items():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(CXR_PLACES):
            continue
        hits = sorted(w for w in _code_words(path) if CXR_FACT.search(w))
        if hits:
            found.append(f"{relative}: {hits}")
    assert not found, found
