"""The driver side of what reaches the Python workers: is the DataFrame an alert table, and which of its
nested fields scoring reads.

Spark sends every column a Python worker gets through the JVM's Arrow writer, row by row; a Fink alert row
is ~45 kB, most of it the cutouts and ``prv_candidates`` (a hundred fields per history item).
Scoring reads the cutouts' ``stampData``, the candidate's feature and BTS filter columns and ``candid``, and
the history's ``jd``, ``magpsf``, ``fid`` and ``isdiffpos``: when the caller does not want the alert columns
back (``keep``), only those fields are sent (null structs and null history items stay null), under
:data:`~.worker.ALERT_PREFIX` names.
"""

from __future__ import annotations

from typing import Any

from ..io.parquet import ALERT_COLUMNS, CUTOUT_COLUMNS, unexpected_types
from ..io.parquet import schema_problem as arrow_schema_problem
from ..prep.variant import CANDIDATE_COLUMNS
from .worker import ALERT_PREFIX, SCORING_COLUMNS

_CANDIDATE_FIELDS = (*CANDIDATE_COLUMNS, "candid")
_HISTORY_FIELDS = ("jd", "magpsf", "fid", "isdiffpos")  # (the BTS filter reads fid and isdiffpos)


def schema_problem(schema: Any) -> str:
    """Why a DataFrame is not an alert table ('' when it is one): the Parquet reader's rule and words
    (btsbot_fast/io/parquet.py), applied to the Arrow types Spark will send."""
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_type

    fields = []
    for f in schema.fields:
        t = pa.null()  # only the alert columns' types matter; the others are named in the message
        if f.name in ALERT_COLUMNS:
            try:
                t = to_arrow_type(f.dataType)
            except Exception:  # a type Arrow cannot carry: certainly not an alert column
                return unexpected_types([f"{f.name} is {f.dataType.simpleString()}"])
        fields.append(pa.field(f.name, t))
    return arrow_schema_problem(pa.schema(fields))


def pruned_alert_columns(df: Any) -> list[Any]:
    """The scoring columns of ``df`` reduced to the fields scoring reads, as ``ALERT_PREFIX + name``."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, StructType

    def subset(col: Any, t: StructType, names: tuple[str, ...]) -> Any:
        present = [n for n in names if n in t.fieldNames()]
        return F.when(col.isNull(), F.lit(None)).otherwise(F.struct(*[col[n].alias(n) for n in present]))

    out = []
    for name in SCORING_COLUMNS:
        if name not in df.columns:
            continue
        col, t = F.col(name), df.schema[name].dataType
        if name == "candidate" and isinstance(t, StructType):
            col = subset(col, t, _CANDIDATE_FIELDS)
        elif name == "prv_candidates" and isinstance(t, ArrayType) and isinstance(t.elementType, StructType):
            item = t.elementType
            # F.transform calls the lambda here, with this iteration's item; a default argument would not do, as
            # Spark reads a second parameter as the element index
            col = F.transform(col, lambda x: subset(x, item, _HISTORY_FIELDS))  # noqa: B023
        elif name in CUTOUT_COLUMNS and isinstance(t, StructType):
            col = subset(col, t, ("stampData",))
        out.append(col.alias(ALERT_PREFIX + name))
    return out
