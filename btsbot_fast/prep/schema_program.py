"""Compile an Avro writer schema into a *program* for the native decoder (csrc/avro/program.hpp).

The program is a flat int64 array. For every value in writer order it says how to skip it or where to put
it, so the native reader extracts exactly what btsbot-v1 needs and skips the rest without building
Python objects:

- ``objectId`` (string) and ``candid`` (int/long; else ``candidate.candid``),
- every ``candidate`` field in :data:`~btsbot_fast.prep.variant.CANDIDATE_COLUMNS` as float64
  (int/long/float/double/boolean; null or absent -> NaN; the union branch decides null); ``isdiffpos``
  (string, or a number in 2017 prototypes) as 1.0 for 't'/'1', else 0.0,
- ``prv_candidates`` items' ``jd``, ``magpsf``, ``fid`` and ``isdiffpos`` (a detection = non-null
  magpsf; a null jd -> NaN); the item record's arg: the item fields of bts.PRV_FIELDS it lacks (bits),
- the three cutouts' ``stampData`` bytes.

The writer schema's name (for UNSUPPORTED_SCHEMA rows) follows btsbot_fast/io/records.py ``schema_name``.
Anything this module cannot map exactly onto what the fastavro path would do (a target field of an
unexpected type, a redefined or unknown name, duplicate field names, a non-record top level ...) raises
:class:`SchemaCompileError`; the caller then reads that buffer with fastavro, so results never differ.

Layout (keep in step with program.hpp; tests compare the constants)::

    header: [PROGRAM_MAGIC, PROGRAM_VERSION, root_offset, flags, n_nodes]
    node:   [op, target, arg, n_kids, kid_offset * n_kids]

Pure Python (json + numpy); testable without the extension.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..io.records import is_foreign, schema_name
from .bts import PRV_FIELDS
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, ISDIFFPOS_COLUMN

PROGRAM_MAGIC = 0x4254534250524731  # "BTSBPRG1"
PROGRAM_VERSION = 2
FLAG_FOREIGN = 1

# ops (program.hpp: enum Op)
OP_NULL, OP_BOOLEAN, OP_INT, OP_LONG, OP_FLOAT, OP_DOUBLE, OP_BYTES, OP_STRING = range(8)
OP_FIXED, OP_ENUM, OP_ARRAY, OP_MAP, OP_UNION, OP_RECORD = range(8, 14)
PRIMITIVE_OPS = {
    "null": OP_NULL, "boolean": OP_BOOLEAN, "int": OP_INT, "long": OP_LONG, "float": OP_FLOAT,
    "double": OP_DOUBLE, "bytes": OP_BYTES, "string": OP_STRING,
}

# targets (program.hpp: enum Target)
T_NONE = 0
T_OBJECT_ID = 1
T_CANDID = 2
T_CANDIDATE = 3
T_CAND_CANDID = 4
T_PRV = 5
T_PRV_ITEM = 6
T_PRV_JD = 7
T_PRV_MAG = 8
T_STAMP0 = 9  # + channel (science, template, difference)
T_NOT_RECORD = 12
T_PRV_ISDIFFPOS = 13
T_PRV_FID = 14
T_COLUMN0 = 32  # + CANDIDATE_COLUMNS index

_NUMERIC = (OP_BOOLEAN, OP_INT, OP_LONG, OP_FLOAT, OP_DOUBLE)
_COLUMN_INDEX = {name: i for i, name in enumerate(CANDIDATE_COLUMNS)}
_CUTOUT_INDEX = {name: i for i, name in enumerate(CUTOUT_FIELDS)}


class SchemaCompileError(ValueError):
    """The schema cannot be read natively (the fastavro path reads it instead)."""


# ------------------------------------------------------------------------------------------------
# schema JSON -> a small resolved type graph (named types shared, so recursion is a cycle)


class _Prim:
    __slots__ = ("op",)

    def __init__(self, op: int):
        self.op = op


class _Fixed:
    __slots__ = ("name", "size")

    def __init__(self, name: str, size: int):
        self.name, self.size = name, size


class _Enum:
    __slots__ = ("name", "n_symbols")

    def __init__(self, name: str, n_symbols: int):
        self.name, self.n_symbols = name, n_symbols


class _Array:
    __slots__ = ("items",)

    def __init__(self, items: Any):
        self.items = items


class _Map:
    __slots__ = ("values",)

    def __init__(self, values: Any):
        self.values = values


class _Union:
    __slots__ = ("branches",)

    def __init__(self, branches: list[Any]):
        self.branches = branches


class _Record:
    __slots__ = ("name", "fields")

    def __init__(self, name: str):
        self.name = name
        self.fields: list[tuple[str, Any]] = []


def _fullname(name: Any, namespace: Any, enclosing: str) -> tuple[str, str]:
    """(fullname, namespace for nested definitions) of a named type (Avro 1.11 "Names")."""
    if not isinstance(name, str) or not name:
        raise SchemaCompileError(f"named type without a valid name: {name!r}")
    if "." in name:
        full = name
    else:
        ns = namespace if isinstance(namespace, str) else enclosing
        full = f"{ns}.{name}" if ns else name
    return full, full.rpartition(".")[0]


class _Parser:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}
        self.depth = 0

    def lookup(self, name: str, enclosing: str) -> Any:
        if name in PRIMITIVE_OPS:
            return _Prim(PRIMITIVE_OPS[name])
        candidates = [name] if "." in name else ([f"{enclosing}.{name}"] if enclosing else []) + [name]
        for c in candidates:
            if c in self.named:
                return self.named[c]
        raise SchemaCompileError(f"unknown type name {name!r}")

    def define(self, full: str, t: Any) -> None:
        if full in self.named or full in PRIMITIVE_OPS:
            raise SchemaCompileError(f"named type {full!r} defined twice")
        self.named[full] = t

    def parse(self, s: Any, ns: str) -> Any:
        self.depth += 1
        try:
            if self.depth > 200:
                raise SchemaCompileError("schema nested too deeply")
            return self._parse(s, ns)
        finally:
            self.depth -= 1

    def _parse(self, s: Any, ns: str) -> Any:
        if isinstance(s, str):
            return self.lookup(s, ns)
        if isinstance(s, list):
            branches = [self.parse(b, ns) for b in s]
            if not branches or any(isinstance(b, _Union) for b in branches):
                raise SchemaCompileError("empty or nested union")
            return _Union(branches)
        if not isinstance(s, dict):
            raise SchemaCompileError(f"not a schema: {s!r:.60}")
        t = s.get("type")
        if isinstance(t, (dict, list)):
            return self.parse(t, ns)
        if t in PRIMITIVE_OPS:
            return _Prim(PRIMITIVE_OPS[t])
        if t in ("record", "error"):
            full, inner = _fullname(s.get("name"), s.get("namespace"), ns)
            rec = _Record(full)
            self.define(full, rec)
            fields = s.get("fields")
            if not isinstance(fields, list):
                raise SchemaCompileError(f"record {full!r} has no field list")
            for f in fields:
                if not isinstance(f, dict) or not isinstance(f.get("name"), str) or "type" not in f:
                    raise SchemaCompileError(f"bad field in record {full!r}")
                rec.fields.append((f["name"], self.parse(f["type"], inner)))
            return rec
        if t == "enum":
            full, _ = _fullname(s.get("name"), s.get("namespace"), ns)
            symbols = s.get("symbols")
            if not isinstance(symbols, list):
                raise SchemaCompileError(f"enum {full!r} has no symbol list")
            e = _Enum(full, len(symbols))
            self.define(full, e)
            return e
        if t == "fixed":
            full, _ = _fullname(s.get("name"), s.get("namespace"), ns)
            size = s.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0 or size > 1 << 31:
                raise SchemaCompileError(f"fixed {full!r} has a bad size")
            fx = _Fixed(full, size)
            self.define(full, fx)
            return fx
        if t == "array":
            if "items" not in s:
                raise SchemaCompileError("array without items")
            return _Array(self.parse(s["items"], ns))
        if t == "map":
            if "values" not in s:
                raise SchemaCompileError("map without values")
            return _Map(self.parse(s["values"], ns))
        if isinstance(t, str):
            return self.lookup(t, ns)
        raise SchemaCompileError(f"unknown type {t!r:.60}")


# ------------------------------------------------------------------------------------------------
# type graph + context -> program nodes

_ROOT, _CANDIDATE, _CANDIDATE_FOREIGN, _PRV_ITEM, _SKIP = "root", "candidate", "candidate-foreign", "prv", "skip"


class _Node:
    __slots__ = ("op", "target", "arg", "kids", "offset")

    def __init__(self, op: int, target: int = T_NONE, arg: int = 0, kids: list[_Node] | None = None):
        self.op, self.target, self.arg = op, target, arg
        self.kids: list[_Node] = kids if kids is not None else []
        self.offset = -1


class _Compiler:
    def __init__(self, foreign: bool):
        self.foreign = foreign
        self.memo: dict[tuple[int, str], _Node] = {}
        self.interned: dict[tuple, _Node] = {}
        self.nodes: list[_Node] = []

    def make(self, op: int, target: int = T_NONE, arg: int = 0, kids: list[_Node] | None = None) -> _Node:
        key = (op, target, arg, tuple(id(k) for k in kids or ()))
        node = self.interned.get(key)
        if node is None:
            node = _Node(op, target, arg, list(kids or ()))
            self.interned[key] = node
            self.nodes.append(node)
        return node

    # a value that is skipped (or, inside a target context, a record with fields that are targets)
    def value(self, t: Any, ctx: str, cutout: int = -1) -> _Node:
        if isinstance(t, _Prim):
            return self.make(t.op)
        if isinstance(t, _Fixed):
            return self.make(OP_FIXED, arg=t.size)
        if isinstance(t, _Enum):
            return self.make(OP_ENUM, arg=t.n_symbols)
        if isinstance(t, _Array):
            return self.make(OP_ARRAY, kids=[self.value(t.items, _SKIP)])
        if isinstance(t, _Map):
            return self.make(OP_MAP, kids=[self.value(t.values, _SKIP)])
        if isinstance(t, _Union):
            return self.make(OP_UNION, kids=[self.value(b, ctx, cutout) for b in t.branches])
        if isinstance(t, _Record):
            return self.record(t, ctx, cutout)
        raise SchemaCompileError("internal: unknown type object")

    def record(self, rec: _Record, ctx: str, cutout: int = -1, target: int = T_NONE) -> _Node:
        key = (id(rec), f"{ctx}/{cutout}/{target}")
        node = self.memo.get(key)
        if node is not None:
            return node
        node = _Node(OP_RECORD, target)
        if ctx == _PRV_ITEM:  # the fields the BTS filter reads that this item record lacks
            names = {name for name, _ in rec.fields}
            node.arg = sum(1 << j for j, name in enumerate(PRV_FIELDS) if name not in names)
        self.nodes.append(node)
        self.memo[key] = node
        if ctx != _SKIP:
            names = [name for name, _ in rec.fields]
            if len(set(names)) != len(names):
                raise SchemaCompileError(f"record {rec.name!r} has duplicate field names")
        node.kids = [self.field(name, t, ctx, cutout) for name, t in rec.fields]
        return node

    def field(self, name: str, t: Any, ctx: str, cutout: int) -> _Node:
        where = f"field {name!r}"
        if ctx == _ROOT:
            if name == "objectId":
                return self.leaf(t, T_OBJECT_ID, (OP_STRING,), where)
            if name == "candid":
                return self.leaf(t, T_CANDID, (OP_INT, OP_LONG), where)
            if name == "candidate":
                return self.records(t, _CANDIDATE_FOREIGN if self.foreign else _CANDIDATE, T_CANDIDATE, where)
            if self.foreign:
                return self.value(t, _SKIP)
            if name == "prv_candidates":
                return self.prv(t, where)
            if name in _CUTOUT_INDEX:
                return self.records(t, "cutout", T_NONE, where, _CUTOUT_INDEX[name])
            return self.value(t, _SKIP)
        if ctx in (_CANDIDATE, _CANDIDATE_FOREIGN):
            if name == "candid":
                return self.leaf(t, T_CAND_CANDID, (OP_INT, OP_LONG), where)
            if ctx == _CANDIDATE and name in _COLUMN_INDEX:
                ops = (OP_STRING, *_NUMERIC) if name == ISDIFFPOS_COLUMN else _NUMERIC  # (a number: never positive)
                return self.leaf(t, T_COLUMN0 + _COLUMN_INDEX[name], ops, where)
            return self.value(t, _SKIP)
        if ctx == _PRV_ITEM:
            if name == "jd":
                return self.leaf(t, T_PRV_JD, _NUMERIC, where)
            if name == "magpsf":
                return self.leaf(t, T_PRV_MAG, _NUMERIC, where)
            if name == "fid":
                return self.leaf(t, T_PRV_FID, _NUMERIC, where)
            if name == "isdiffpos":
                return self.leaf(t, T_PRV_ISDIFFPOS, (OP_STRING, *_NUMERIC), where)
            return self.value(t, _SKIP)
        if ctx == "cutout":
            if name == "stampData":
                return self.leaf(t, T_STAMP0 + cutout, (OP_BYTES,), where)
            return self.value(t, _SKIP)
        return self.value(t, _SKIP)

    def _branches(self, t: Any) -> list[Any]:
        return t.branches if isinstance(t, _Union) else [t]

    def leaf(self, t: Any, target: int, ops: tuple[int, ...], where: str) -> _Node:
        """A target of a primitive type, possibly in a union with null."""
        kids = []
        for b in self._branches(t):
            if isinstance(b, _Prim) and (b.op == OP_NULL or b.op in ops):
                kids.append(self.make(b.op, target))
            else:
                raise SchemaCompileError(f"{where}: unsupported type for a field this scorer reads")
        return self.make(OP_UNION, kids=kids) if isinstance(t, _Union) else kids[0]

    def records(self, t: Any, ctx: str, target: int, where: str, cutout: int = -1) -> _Node:
        """A record target (candidate, a cutout), possibly in a union with null."""
        kids = []
        for b in self._branches(t):
            if isinstance(b, _Prim) and b.op == OP_NULL:
                kids.append(self.make(OP_NULL))
            elif isinstance(b, _Record):
                kids.append(self.record(b, ctx, cutout, target))
            else:
                raise SchemaCompileError(f"{where}: expected a record (or null)")
        return self.make(OP_UNION, kids=kids) if isinstance(t, _Union) else kids[0]

    def prv(self, t: Any, where: str) -> _Node:
        kids = []
        for b in self._branches(t):
            if isinstance(b, _Prim) and b.op == OP_NULL:
                kids.append(self.make(OP_NULL))
            elif isinstance(b, _Array):
                kids.append(self.make(OP_ARRAY, T_PRV, kids=[self.records(b.items, _PRV_ITEM, T_PRV_ITEM, where)]))
            else:
                raise SchemaCompileError(f"{where}: expected an array of records (or null)")
        return self.make(OP_UNION, kids=kids) if isinstance(t, _Union) else kids[0]

    def root(self, t: Any) -> _Node:
        if isinstance(t, _Record):
            return self.record(t, _ROOT)
        if isinstance(t, _Union):
            kids = []
            for b in t.branches:
                if isinstance(b, _Record):
                    kids.append(self.record(b, _ROOT))
                elif isinstance(b, _Map):  # fastavro would hand the scorer a dict: not mapped here
                    raise SchemaCompileError("top-level union with a map branch")
                else:  # the fastavro path gives such a row DECODE_ERROR "record is not an Avro record"
                    kids.append(self._not_record(b))
            return self.make(OP_UNION, kids=kids)
        raise SchemaCompileError("top-level schema is not a record")

    def _not_record(self, t: Any) -> _Node:
        base = self.value(t, _SKIP)
        return self.make(base.op, T_NOT_RECORD, base.arg, base.kids)

    def serialise(self, root: _Node) -> np.ndarray:
        words: list[int] = [PROGRAM_MAGIC, PROGRAM_VERSION, 0, FLAG_FOREIGN if self.foreign else 0, 0]
        reach: set[int] = set()
        stack = [root]
        while stack:
            n = stack.pop()
            if id(n) not in reach:
                reach.add(id(n))
                stack.extend(n.kids)
        order = [n for n in self.nodes if id(n) in reach]
        pos = len(words)
        for n in order:
            n.offset = pos
            pos += 4 + len(n.kids)
        for n in order:
            words += [n.op, n.target, n.arg, len(n.kids)] + [k.offset for k in n.kids]
        words[2] = root.offset
        words[4] = len(order)
        return np.asarray(words, dtype=np.int64)


@dataclass(frozen=True)
class SchemaProgram:
    """A compiled writer schema: the program words, the schema name, and whether it is foreign."""

    words: np.ndarray
    name: str
    foreign: bool


def compile_schema(schema: str | bytes | dict | list) -> SchemaProgram:
    """Compile a writer schema (JSON text or parsed). Raises :class:`SchemaCompileError`."""
    if isinstance(schema, (bytes, bytearray, memoryview)):
        try:
            schema = bytes(schema).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SchemaCompileError(f"schema is not UTF-8: {exc}") from None
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except (ValueError, RecursionError) as exc:
            raise SchemaCompileError(f"schema is not JSON: {exc}") from None
    name = schema_name(schema)
    foreign = is_foreign(name)
    try:
        t = _Parser().parse(schema, "")
        comp = _Compiler(foreign)
        root = comp.root(t)
        words = comp.serialise(root)
    except RecursionError:
        raise SchemaCompileError("schema nested too deeply") from None
    return SchemaProgram(words, name, foreign)


class ProgramCache:
    """Compiled programs by schema text (bytes), bounded (least recently used evicted).
    A schema that cannot be compiled is cached as its :class:`SchemaCompileError`."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._items: OrderedDict[bytes, SchemaProgram | SchemaCompileError] = OrderedDict()

    def get(self, text: bytes) -> SchemaProgram | SchemaCompileError:
        item = self._items.get(text)
        if item is not None:
            self._items.move_to_end(text)
            return item
        try:
            item = compile_schema(text)
        except SchemaCompileError as exc:
            item = exc
        self._items[text] = item
        if len(self._items) > self.maxsize:
            self._items.popitem(last=False)
        return item

    def __len__(self) -> int:
        return len(self._items)


__all__ = ["PROGRAM_MAGIC", "PROGRAM_VERSION", "ProgramCache", "SchemaCompileError", "SchemaProgram", "compile_schema"]
