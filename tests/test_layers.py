"""The house's layering, read from the code itself: every import statement of the package, those inside
functions included (the ones behind ``if TYPE_CHECKING:`` excepted, they never run), resolved to the
module it loads.

import-linter (``lint-imports`` in CI, configured in pyproject.toml) checks the layers between packages;
this test holds the same order against cycles among single modules too (a package's ``__init__`` and its
own modules), and the two rules import-linter does not express: matplotlib has one gate, and no module
takes names from the package's lazy ``__init__``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "btsbot_fast"
ROOT = "btsbot_fast"


def _modules() -> dict[str, Path | None]:
    mods: dict[str, Path | None] = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    mods[f"{ROOT}._core"] = None  # the compiled extension
    return mods


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def _imports(mods: dict[str, Path | None]) -> dict[str, dict[str, tuple[int, tuple[str, ...]]]]:
    """importer -> {imported module: (line, names taken)}; ``from pkg import submodule`` loads the
    submodule (and ``pkg``, unless it is an ancestor of the importer: that one is loaded already)."""
    out: dict[str, dict[str, tuple[int, tuple[str, ...]]]] = {}
    for mod, path in mods.items():
        if path is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        edges = out.setdefault(mod, {})
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or node.lineno in skip:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    edges.setdefault(alias.name, (node.lineno, ()))
                continue
            base = package
            for _ in range(max(node.level - 1, 0)):
                base = base.rsplit(".", 1)[0]
            target = node.module if not node.level else (f"{base}.{node.module}" if node.module else base)
            names = tuple(a.name for a in node.names)
            subs = [f"{target}.{n}" for n in names if f"{target}.{n}" in mods]
            for s in subs:
                edges.setdefault(s, (node.lineno, ()))
            if len(subs) < len(names) or not (mod + ".").startswith(target + "."):
                edges.setdefault(target, (node.lineno, names))
    return out


def _layers() -> list[list[str]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        tomllib = pytest.importorskip("tomli")
    conf = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in conf["contracts"] if c["type"] == "layers"]
    return [[m.strip().strip("()") for m in line.split("|")] for line in layers]  # (optional layer)


MODULES = _modules()
IMPORTS = _imports(MODULES)
INTERNAL = {m: {t: v for t, v in e.items() if t in MODULES and t != m} for m, e in IMPORTS.items()}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in INTERNAL.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for m in sorted(INTERNAL):
        if m not in index:
            visit(m)
    return found


def test_the_reader_sees_imports_inside_functions():
    """(The checks below would prove nothing if a lazy import went unseen.)"""
    assert f"{ROOT}.evaluate.run" in INTERNAL[f"{ROOT}.evaluate.commands"]  # imported inside the command


def test_no_import_circles_counting_imports_inside_functions():
    assert _cycles() == []


def _layer_of(module: str, layers: list[list[str]]) -> tuple[int, str] | None:
    for i, line in enumerate(layers):
        for top in line:
            if module == top or module.startswith(top + "."):
                return i, top
    return None


def test_every_module_has_a_layer_and_imports_go_down():
    layers = _layers()
    unplaced = sorted(m for m in MODULES if m != ROOT and _layer_of(m, layers) is None)
    assert unplaced == [], "modules in no layer of [tool.importlinter]: add them"
    upward = []
    for importer, edges in INTERNAL.items():
        if importer == ROOT:
            continue  # the lazy public API
        here = _layer_of(importer, layers)
        for imported, (line, _) in edges.items():
            there = _layer_of(imported, layers)
            if there is None or here is None:
                continue
            if there[0] < here[0] or (there[0] == here[0] and there[1] != here[1]):
                upward.append(f"{importer}:{line} -> {imported}")
    assert upward == []


def test_nothing_takes_names_from_the_lazy_package_init():
    """Inside the package, names come from the module that defines them (the root ``__init__`` only
    re-exports, lazily: importing from it would tie a low layer to every layer)."""
    offenders = [f"{m}:{line} takes {names}" for m, edges in INTERNAL.items() for t, (line, names) in edges.items()
                 if t == ROOT and names]
    assert offenders == []


def test_matplotlib_has_one_gate():
    gate = f"{ROOT}.plotting"
    users = sorted(f"{m}:{line}" for m, edges in IMPORTS.items() for t, (line, _) in edges.items()
                   if (t == "matplotlib" or t.startswith("matplotlib.")) and m != gate)
    assert users == []
    assert any(gate in INTERNAL[m] for m in (f"{ROOT}.show.figure", f"{ROOT}.evaluate.figures",
                                             f"{ROOT}.autoscan.report"))


def test_the_package_imports_cheaply_and_names_its_public_api():
    """``import btsbot_fast`` loads neither onnxruntime nor pyarrow, matplotlib or pyspark; every public
    name resolves; ``dir()`` lists them."""
    import subprocess

    code = ("import sys, btsbot_fast as b\n"
            "heavy = [m for m in ('onnxruntime', 'pyarrow', 'matplotlib', 'pyspark', 'numpy') if m in sys.modules]\n"
            "assert heavy == [], heavy\n"
            "assert sorted(dir(b)) == sorted(b.__all__)\n"
            "for name in b.__all__:\n"
            "    if name != 'with_btsbot_score':\n"
            "        getattr(b, name)\n"
            "assert b.ScoreResult is __import__('btsbot_fast.rows', fromlist=['x']).ScoreResult\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
