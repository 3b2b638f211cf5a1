"""A column of a result row: its name, storage type, nullability and what it says, and how each output
spells that type (Arrow for Parquet, Avro for stream records, Spark SQL for DataFrames).

Types are named as Avro names them (``string``, ``long``, ``int``, ``double``, ``float``, ``boolean``):
``float`` is float32 (the model's score, the packet's ``magpsf``), ``double`` float64. Spark columns are
widened (``float`` to ``double``, ``int`` to ``long``), the types Python's own numbers have there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the storage types a column may have (Avro's names)
TYPES = ("string", "long", "int", "double", "float", "boolean")
#: the role of a column: the alert's ids, values read from its candidate, the scorer's answer, where the
#: row came from (model, input), or where a streamed message came from
ROLES = ("id", "candidate", "result", "provenance", "message")
_SPARK_WIDENED = {"float": "double", "int": "long"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool
    role: str
    doc: str = ""
    #: whether the stream's output records carry it (those that do not still reach the per-batch hook)
    streamed: bool = True

    def __post_init__(self) -> None:
        if self.type not in TYPES or self.role not in ROLES:
            raise ValueError(f"column {self.name}: type {self.type!r} / role {self.role!r} unknown")

    @property
    def python_type(self) -> type:
        return {"string": str, "long": int, "int": int, "double": float, "float": float, "boolean": bool}[self.type]

    def arrow_type(self, *, widened: bool = False) -> Any:
        """The pyarrow type (``widened``: Spark's)."""
        import pyarrow as pa

        t = _SPARK_WIDENED.get(self.type, self.type) if widened else self.type
        return {"string": pa.string(), "long": pa.int64(), "int": pa.int32(), "double": pa.float64(),
                "float": pa.float32(), "boolean": pa.bool_()}[t]

    def spark_type(self) -> Any:
        """The (widened) Spark SQL type."""
        from pyspark.sql import types as T

        t = _SPARK_WIDENED.get(self.type, self.type)
        return {"string": T.StringType(), "long": T.LongType(), "double": T.DoubleType(),
                "boolean": T.BooleanType()}[t]

    def avro_field(self) -> dict[str, Any]:
        """The field of an Avro record schema (a nullable column: ``["null", T]`` with default null)."""
        field: dict[str, Any] = {"name": self.name, "type": ["null", self.type] if self.nullable else self.type}
        if self.nullable:
            field["default"] = None
        if self.doc:
            field["doc"] = self.doc
        return field

    def fits(self, value: Any) -> bool:
        """Whether ``value`` can be stored in this column (what Avro validation checks: null only where
        nullable, integers within the type's range)."""
        if value is None:
            return self.nullable
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "boolean":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.type in ("long", "int"):
            bits = 63 if self.type == "long" else 31
            return isinstance(value, int) and -(1 << bits) <= value < 1 << bits
        return isinstance(value, (int, float))


def csv_cell(column: Column, value: Any) -> Any:
    """A CSV cell: empty for null, ``true``/``false`` for booleans, float32 columns with 9 significant
    digits (enough to round-trip any float32)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return format(value, ".9g") if column.type == "float" else value


def names(columns: tuple[Column, ...]) -> tuple[str, ...]:
    return tuple(c.name for c in columns)


__all__ = ["Column", "ROLES", "TYPES", "csv_cell", "names"]
