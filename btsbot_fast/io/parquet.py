"""The Parquet reader (pyarrow, the optional ``[parquet]`` extra): Fink/Spark alert tables.

Fink/Spark write ZTF alerts as Parquet tables with one alert per row: ``objectId``, ``candid``,
``candidate`` (struct), ``prv_candidates`` (list of structs, or null) and the three cutouts as
``{fileName, stampData}`` structs (or bare binary columns), often beside broker columns (which are not
read). Files are read one record batch at a time (bounded memory), and every batch is first brought back
to the ZTF Avro schema's types by :func:`conform` (the one place these rules live):

- fields the Avro schema declares ``float`` but the table stores as double are rounded to float32 (exact
  for a widened value); integer values of floating fields become floats;
- integer fields stored as double (Spark/pandas round trips: ``prv_candidates.candid``, ``nbad``...) become
  int64, with NaN meaning null (an Avro int cannot be NaN, so this is pandas' null, not a value);
- in float and double fields NaN and +-inf stay values (the missing-data rule, btsbot_fast/prep/variant.py);
- ``candid`` becomes one int64 column: the top-level integer candid, else ``candidate.candid`` (a
  top-level double was rounded when it was written and is used only when nothing better exists);
- a bare binary cutout column becomes the ``{fileName, stampData}`` struct.

Every row of a file gives one row downstream: rows of a table that is not an alert table are
``UNSUPPORTED_SCHEMA`` rows naming what is missing; a file that cannot be opened or stops decoding
part-way gives one ``DECODE_ERROR`` row naming it. Both engines read the same conformed batches: the
python engine as dicts (:func:`records_from_parquet`), the native engine column by column
(btsbot_fast/prep/arrow.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..messages import install_hint
from ..status import Status
from .records import AlertRecord, cannot_read, corrupt_parquet, error_record, exception_detail

INSTALL_HINT = "reading Parquet needs pyarrow: " + install_hint("parquet")

CUTOUT_COLUMNS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")
#: the columns an alert table must have (prv_candidates may be null per row, but not absent)
ALERT_COLUMNS = ("candidate", "prv_candidates", *CUTOUT_COLUMNS)
#: top-level columns carried into the record besides the alert columns
_EXTRA_COLUMNS = ("objectId", "candid", "schemavsn", "publisher")

#: rows per record batch: a row holds three cutouts and up to a few hundred history entries
BATCH_ROWS = 256

# ZTF alert Avro schema (4.02) field types of candidate / prv_candidates entries
_AVRO_DOUBLE = frozenset("jd ra dec ranr decnr jdstarthist jdendhist scorr jdstartref jdendref".split())
_AVRO_INTEGER = frozenset(
    "fid programid nid rcid field nneg nbad ndethist ncovhist tooflag nmtchps nframesref nmatches "
    "pid candid tblid objectidps1 objectidps2 objectidps3 rfid".split())
_AVRO_FLOAT = frozenset(
    "diffmaglim xpos ypos magpsf sigmapsf chipsf magap sigmagap distnr magnr sigmagnr chinr sharpnr sky "
    "magdiff fwhm classtar mindtoedge magfromlim seeratio aimage bimage aimagerat bimagerat elong rb "
    "ssdistnr ssmagnr sumrat magapbig sigmagapbig sgmag1 srmag1 simag1 szmag1 sgscore1 distpsnr1 sgmag2 "
    "srmag2 simag2 szmag2 sgscore2 distpsnr2 sgmag3 srmag3 simag3 szmag3 sgscore3 distpsnr3 dsnrms ssnrms "
    "dsdiff magzpsci magzpsciunc magzpscirms clrcoeff clrcounc zpclrcov zpmed clrmed clrrms neargaia "
    "neargaiabright maggaia maggaiabright exptime drb".split())


def read_errors() -> tuple[type[BaseException], ...]:
    """What pyarrow raises on an unreadable, truncated or foreign file or column (ArrowInvalid is a
    ValueError, ArrowIOError an OSError, ArrowNotImplementedError a NotImplementedError...): a row's data
    error. Anything else (ImportError, MemoryError, a bug) propagates."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError, OverflowError)


def holds_alert_columns(path: str | os.PathLike[str]) -> bool:
    """Whether a Parquet file looks like an alert table (has any alert column); directory walks use it
    to pass over catalogues and light-curve tables. True when it cannot tell (no pyarrow, unreadable
    footer), so that the file is read and its problem reported."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return True
    try:
        names = pq.read_schema(path).names
    except read_errors():
        return True
    return any(c in names for c in ALERT_COLUMNS)


@dataclass
class ParquetPart:
    """A piece of a Parquet file, in order: a conformed record batch of alert rows (``alerts``), or rows
    that are failures already (``records``: unsupported-table rows, a corrupt-file row)."""

    source: str
    first_index: int
    alerts: Any = None  # pyarrow.RecordBatch, conformed
    records: list[AlertRecord] = field(default_factory=list)

    def __len__(self) -> int:
        return self.alerts.num_rows if self.alerts is not None else len(self.records)


def read_parquet(path: str | os.PathLike[str]) -> Iterator[ParquetPart]:
    """The parts of one Parquet file (``source`` = the path, row indices from 0)."""
    source = str(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        # Parquet is an optional input (the [parquet] extra) that the plain install a broker runs does not
        # read: the file gets a row naming the extra, and the rest of a mixed directory is still scored
        # (without pyarrow a walk cannot even tell alert tables from catalogues). A missing module of our
        # own (the native core, fastavro, ONNX Runtime) still raises.
        yield ParquetPart(source, 0, records=[error_record(source, 0, INSTALL_HINT)])
        return
    try:
        fh = open(path, "rb")
    except OSError as exc:
        yield ParquetPart(source, 0, records=[error_record(source, 0, cannot_read(exc))])
        return
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size == 0:
                yield ParquetPart(source, 0, records=[error_record(source, 0, "empty file")])
                return
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
        except read_errors() as exc:  # truncated or foreign files
            yield ParquetPart(source, 0,
                              records=[error_record(source, 0, f"corrupt Parquet file: {exception_detail(exc)}")])
            return
        problem = schema_problem(schema)
        index = 0
        try:
            if problem:
                columns = [c for c in ("objectId", "candid") if c in schema.names]
                for part in _unsupported_parts(source, pf, columns, problem):
                    index += len(part)
                    yield part
            else:
                columns = [c for c in (*_EXTRA_COLUMNS, *ALERT_COLUMNS) if c in schema.names]
                for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
                    part = ParquetPart(source, index, alerts=conform(batch))
                    index += batch.num_rows
                    yield part
        except read_errors() as exc:
            problem = corrupt_parquet(index, exception_detail(exc))
            yield ParquetPart(source, index, records=[error_record(source, index, problem)])


def records_from_parquet(path: str | os.PathLike[str]) -> Iterator[AlertRecord]:
    """One :class:`AlertRecord` per row of a Parquet file, the record a dict like fastavro's."""
    for part in read_parquet(path):
        if part.alerts is None:
            yield from part.records
            continue
        for k, row in enumerate(part.alerts.to_pylist()):
            oid = row.get("objectId")
            yield AlertRecord(part.source, part.first_index + k, oid if isinstance(oid, str) else None,
                              row.get("candid"), row)


def schema_problem(schema: Any) -> str:
    """Why a table is not an alert table ('' when it is one)."""
    import pyarrow as pa

    names = schema.names
    missing = [c for c in ALERT_COLUMNS if c not in names]
    if missing:
        shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "")
        return f"not a ZTF alert table: no {', '.join(missing)} column(s) (columns: {shown})"
    bad = []
    for name in ALERT_COLUMNS:
        t = schema.field(name).type
        if pa.types.is_null(t):
            continue
        if name == "candidate":
            ok = pa.types.is_struct(t)
        elif name == "prv_candidates":
            ok = _is_list(t) and (pa.types.is_struct(t.value_type) or pa.types.is_null(t.value_type))
        else:
            ok = (pa.types.is_struct(t) and t.get_field_index("stampData") >= 0) or _is_binary(t)
        if not ok:
            bad.append(f"{name} is {t}")
    if bad:
        return unexpected_types(bad)
    return ""


def unexpected_types(bad: list[str]) -> str:
    """The problem of an alert table whose alert columns have the wrong types (``bad``: "name is type"
    items); the Spark driver says it in the same words."""
    return "not a ZTF alert table: unexpected column type(s): " + "; ".join(bad)


def _is_list(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _is_binary(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _unsupported_parts(source: str, pf: Any, columns: list[str], problem: str) -> Iterator[ParquetPart]:
    """UNSUPPORTED_SCHEMA rows, with objectId/candid when the table has them."""
    index = 0
    if columns:
        batches = (b.to_pylist() for b in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns))
    else:  # no column worth reading: count rows from the footer
        batches = ([{}] * pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups))
    for rows in batches:
        yield ParquetPart(source, index, records=unsupported_records(source, index, rows, problem))
        index += len(rows)


def unsupported_records(source: str, first_index: int, rows: list[dict[str, Any]], problem: str) -> list[AlertRecord]:
    """UNSUPPORTED_SCHEMA records for the rows of a table that is not an alert table, with the row's
    ``objectId`` and ``candid`` where it has usable ones (the Spark worker uses this rule too)."""
    recs = []
    for k, row in enumerate(rows):
        oid = row.get("objectId")
        recs.append(AlertRecord(source, first_index + k, oid if isinstance(oid, str) else None,
                                _as_int(row.get("candid")), None, Status.UNSUPPORTED_SCHEMA, problem))
    return recs


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- bringing columns back to the Avro schema's types (columnar, per record batch) -------------------
def conform(batch: Any) -> Any:
    """A record batch of alert columns with the Avro schema's types (module docstring): ``candid`` int64,
    candidate / prv_candidates fields cast, cutouts as ``{fileName, stampData}`` structs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = list(batch.schema.names)
    arrays = dict(zip(names, batch.columns))
    cand = arrays.get("candidate")
    if cand is not None and pa.types.is_struct(cand.type):
        cand = arrays["candidate"] = _conform_struct(cand)
    prv = arrays.get("prv_candidates")
    if prv is not None and _is_list(prv.type) and pa.types.is_struct(prv.type.value_type):
        values = _conform_struct(prv.values)
        if values is not prv.values:
            arrays["prv_candidates"] = type(prv).from_arrays(prv.offsets, values, mask=prv.is_null())
    for name in CUTOUT_COLUMNS:
        col = arrays.get(name)
        if col is not None and _is_binary(col.type):
            arrays[name] = pa.StructArray.from_arrays(
                [pa.nulls(len(col), pa.string()), col], names=["fileName", "stampData"])
    # candid: the top-level integer, else the candidate's, else a (rounded) top-level double
    top = arrays.get("candid")
    inner = cand.field("candid") if cand is not None and pa.types.is_struct(cand.type) \
        and cand.type.get_field_index("candid") >= 0 else None
    if inner is not None:
        inner = pc.if_else(cand.is_valid(), inner, pa.scalar(None, inner.type)).cast(pa.int64(), safe=False)
    if top is not None and pa.types.is_floating(top.type):
        top_int = pc.if_else(pc.is_finite(top), top, pa.scalar(None, top.type)).cast(pa.int64(), safe=False)
        candid = top_int if inner is None else pc.coalesce(inner, top_int)
    elif top is not None and (pa.types.is_integer(top.type) or pa.types.is_null(top.type)):
        top = top.cast(pa.int64())
        candid = top if inner is None else pc.coalesce(top, inner)
    else:
        candid = inner if inner is not None else pa.nulls(batch.num_rows, pa.int64())
    arrays["candid"] = candid
    if "candid" not in names:
        names.append("candid")
    return pa.RecordBatch.from_arrays([arrays[n] for n in names], names=names)


def _conform_struct(arr: Any) -> Any:
    """A struct array with ZTF fields cast to their Avro types (the same array when nothing changes)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fields, children, changed = [], [], False
    for i, f in enumerate(arr.type):
        child, t = arr.field(i), f.type
        target = None
        if f.name in _AVRO_INTEGER and pa.types.is_floating(t):
            child = pc.if_else(pc.is_nan(child), pa.scalar(None, t), child)
            target = pa.int64()
        elif f.name in _AVRO_FLOAT and pa.types.is_float64(t):
            target = pa.float32()
        elif f.name in _AVRO_FLOAT | _AVRO_DOUBLE and pa.types.is_integer(t):
            target = pa.float64()
        if target is not None:
            child = child.cast(target, safe=False)
            f = pa.field(f.name, target, nullable=True)
            changed = True
        fields.append(f)
        children.append(child)
    if not changed:
        return arr
    return pa.StructArray.from_arrays(children, fields=fields, mask=arr.is_null())


__all__ = ["ALERT_COLUMNS", "CUTOUT_COLUMNS", "INSTALL_HINT", "ParquetPart", "conform", "holds_alert_columns",
           "read_parquet", "records_from_parquet", "schema_problem", "unexpected_types"]
