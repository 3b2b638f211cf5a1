"""btsbot_fast/_core.pyi describes the extension as built: the same names (functions, classes and their
members, constants, the _testing hooks), the same parameters in the same order (read from pybind11's
signatures), and constants of the annotated types. A binding added, renamed or removed without its stub
fails here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import btsbot_fast
from btsbot_fast import _core

STUB = Path(btsbot_fast.__file__).with_name("_core.pyi")
#: what pybind11 adds to every module / class on its own
PYBIND_EXTRA = {"_pybind11_conduit_v1_"}


def _stub() -> ast.Module:
    return ast.parse(STUB.read_text(encoding="utf-8"))


def _aliases(body: list[ast.stmt]) -> set[str]:
    """Stub-only helpers: ``Name: TypeAlias = ...``."""
    return {s.target.id for s in body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
            and isinstance(s.annotation, ast.Name) and s.annotation.id == "TypeAlias"}


def _defined(body: list[ast.stmt]) -> dict[str, ast.stmt]:
    """The names a stub body defines (functions, classes, annotated attributes), without its aliases."""
    names: dict[str, ast.stmt] = {}
    for s in body:
        if isinstance(s, (ast.FunctionDef, ast.ClassDef)):
            names[s.name] = s
        elif isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
            names[s.target.id] = s
    for alias in _aliases(body):
        del names[alias]
    return names


def _exposed(obj, *, members_of_class: bool = False) -> set[str]:
    if members_of_class:
        names = set(vars(obj))
        dunders = {n for n in names if n.startswith("__") and n.endswith("__")}
        return names - PYBIND_EXTRA - (dunders - {"__init__", "__iter__", "__next__"})
    return {n for n in dir(obj) if not (n.startswith("__") and n.endswith("__"))} - PYBIND_EXTRA


def _pybind_params(fn) -> list[str]:
    """Parameter names from pybind11's signature line ``name(a: T, b: T = d) -> R`` (self dropped)."""
    first = fn.__doc__.splitlines()[0]
    inside = first[first.index("(") + 1:first.rindex(") ->")]
    names = re.findall(r"(?:^|, )(\w+): ", inside)
    return [n for n in names if n != "self"]


def _stub_params(node: ast.FunctionDef) -> list[str]:
    return [a.arg for a in node.args.args if a.arg != "self"]


def test_the_stub_names_what_the_module_exposes():
    stub = _defined(_stub().body)
    assert set(stub) == _exposed(_core), "btsbot_fast/_core.pyi and the extension differ"


@pytest.mark.parametrize("cls", ["Reader", "ArchiveMembers", "_testing"])
def test_each_class_stub_names_its_members(cls):
    node = _defined(_stub().body)[cls]
    assert isinstance(node, ast.ClassDef)
    obj = getattr(_core, cls)
    exposed = _exposed(obj) if cls == "_testing" else _exposed(obj, members_of_class=True)
    assert set(_defined(node.body)) == exposed


def _functions():
    """(qualified name, the binding, its stub) of every function and method (properties aside)."""
    for name, node in _defined(_stub().body).items():
        if isinstance(node, ast.FunctionDef):
            yield name, getattr(_core, name), node
        elif isinstance(node, ast.ClassDef):
            owner = getattr(_core, name)
            for member, sub in _defined(node.body).items():
                if isinstance(sub, ast.FunctionDef) and not isinstance(vars(owner).get(member), property):
                    yield f"{name}.{member}", getattr(owner, member), sub


def test_every_function_has_the_stub_parameters_in_order():
    checked = [name for name, fn, node in _functions() if _stub_params(node) == _pybind_params(fn) or
               pytest.fail(f"{name}: stub {_stub_params(node)}, extension {_pybind_params(fn)}")]
    assert len(checked) >= 24  # 5 functions, Reader's 7 methods, ArchiveMembers' 3, 9 _testing hooks


def test_constants_have_their_annotated_types():
    kinds = {"int": int, "str": str, "bool": bool}
    for name, node in _defined(_stub().body).items():
        if not isinstance(node, ast.AnnAssign):
            continue
        value, annotation = getattr(_core, name), ast.unparse(node.annotation)
        if annotation == "tuple[str, ...]":
            assert isinstance(value, tuple) and value and all(isinstance(v, str) for v in value), name
        else:
            assert type(value) is kinds[annotation], f"{name}: {annotation} in the stub, {type(value).__name__}"
