"""Parquet alert readers (pyarrow, the optional ``[parquet]`` extra).

Fink/Spark write ZTF alerts as Parquet tables with one alert per row: ``objectId``, ``candid``,
``candidate`` (struct), ``prv_candidates`` (list of structs, or null) and the three cutouts as
``{fileName, stampData}`` structs, often beside broker columns (which are not read). Each row becomes the
dict fastavro gives for the same alert in an Avro file, so everything downstream is shared.

Types are brought back to the ZTF Avro schema's: Spark/pandas round trips widen ``float`` fields to
double and store nullable ``int``/``long`` fields (e.g. ``prv_candidates.candid``, ``nbad``) as double
with NaN for null. Fields the Avro schema declares ``float`` are rounded to float32 (exact for a widened
value), integer fields stored as double become ints (NaN -> null; a double candid above 2**53 was already
rounded when it was written, that loss cannot be undone) and integer values of floating fields become
floats. The features only read candidate fields and ``prv_candidates`` jd/magpsf, so this keeps them
equal to the values computed from the Avro packet.

Files are read one record batch at a time (bounded memory). Every row of a file gives one
:class:`AlertRecord`: rows of a table that is not an alert table (no ``candidate``/``prv_candidates``/
cutout columns) are ``UNSUPPORTED_SCHEMA`` rows naming what is missing; a file that cannot be opened or
stops decoding part-way gives one ``DECODE_ERROR`` row naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from ..status import Status
from .avro import AlertRecord

PARQUET_SUFFIXES = (".parquet",)

INSTALL_HINT = "reading Parquet needs pyarrow: pip install 'btsbot-fast[parquet]'"

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


def is_parquet(name: str | os.PathLike[str]) -> bool:
    return os.fspath(name).lower().endswith(PARQUET_SUFFIXES)


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
    except Exception:
        return True
    return any(c in names for c in ALERT_COLUMNS)


def _error(source: str, index: int, message: str) -> AlertRecord:
    return AlertRecord(source, index, None, None, None, Status.DECODE_ERROR, message)


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def records_from_parquet(path: str | os.PathLike[str]) -> Iterator[AlertRecord]:
    """One :class:`AlertRecord` per row of a Parquet file (``index`` = row index, ``source`` = the path)."""
    source = str(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        yield _error(source, 0, INSTALL_HINT)
        return
    try:
        fh = open(path, "rb")
    except OSError as exc:
        yield _error(source, 0, f"cannot read file: {exc}")
        return
    with fh:
        try:
            if os.fstat(fh.fileno()).st_size == 0:
                yield _error(source, 0, "empty file")
                return
            pf = pq.ParquetFile(fh)
            schema = pf.schema_arrow
        except Exception as exc:  # pyarrow raises ArrowInvalid/OSError on truncated or foreign files
            yield _error(source, 0, f"corrupt Parquet file: {_detail(exc)}")
            return
        problem = _schema_problem(schema)
        if problem:
            yield from _unsupported_rows(source, pf, schema, problem)
        else:
            yield from _alert_rows(source, pf, schema)


def _schema_problem(schema: Any) -> str:
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
        return "not a ZTF alert table: unexpected column type(s): " + "; ".join(bad)
    return ""


def _is_list(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_list(t) or pa.types.is_large_list(t)


def _is_binary(t: Any) -> bool:
    import pyarrow as pa

    return pa.types.is_binary(t) or pa.types.is_large_binary(t)


def _as_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _batches(pf: Any, columns: list[str]) -> Iterator[Any]:
    if columns:
        yield from pf.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    else:  # no column worth reading: count rows from the footer
        for g in range(pf.metadata.num_row_groups):
            yield pf.metadata.row_group(g).num_rows


def _unsupported_rows(source: str, pf: Any, schema: Any, problem: str) -> Iterator[AlertRecord]:
    """One UNSUPPORTED_SCHEMA row per table row, with objectId/candid when the table has them."""
    columns = [c for c in ("objectId", "candid") if c in schema.names]
    index = 0
    try:
        for batch in _batches(pf, columns):
            if isinstance(batch, int):
                rows = [{}] * batch
            else:
                rows = batch.to_pylist()
            for row in rows:
                oid = row.get("objectId")
                yield AlertRecord(source, index, oid if isinstance(oid, str) else None, _as_int(row.get("candid")),
                                  None, Status.UNSUPPORTED_SCHEMA, problem)
                index += 1
    except Exception as exc:
        yield _error(source, index, f"corrupt Parquet data after {index} row(s): {_detail(exc)}")


def _alert_rows(source: str, pf: Any, schema: Any) -> Iterator[AlertRecord]:
    columns = [c for c in (*_EXTRA_COLUMNS, *ALERT_COLUMNS) if c in schema.names]
    index = 0
    try:
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, columns=columns):
            for row in _conform(batch).to_pylist():
                yield _to_alert_record(source, index, row)
                index += 1
    except Exception as exc:
        where = f" after {index} row(s)" if index else ""
        yield _error(source, index, f"corrupt Parquet data{where}: {_detail(exc)}")


def _to_alert_record(source: str, index: int, row: dict[str, Any]) -> AlertRecord:
    cand = row.get("candidate")
    candid = _as_int(row.get("candid"))
    if isinstance(cand, dict) and (candid is None or isinstance(row.get("candid"), float)):
        # Spark/Fink tables may keep candid only inside the candidate, or a rounded double at top level
        candid = _as_int(cand.get("candid")) if cand.get("candid") is not None else candid
    row["candid"] = candid
    for name in CUTOUT_COLUMNS:
        value = row.get(name)
        if isinstance(value, (bytes, bytearray)):  # a bare binary column: the stampData itself
            row[name] = {"fileName": None, "stampData": bytes(value)}
    oid = row.get("objectId")
    return AlertRecord(source, index, oid if isinstance(oid, str) else None, candid, row)


# --- bringing columns back to the Avro schema's types (columnar, per record batch) -------------------
def _conform(batch: Any) -> Any:
    import pyarrow as pa

    names = batch.schema.names
    arrays = list(batch.columns)
    changed = False
    for i, name in enumerate(names):
        arr = arrays[i]
        if name == "candidate" and pa.types.is_struct(arr.type):
            new = _conform_struct(arr)
        elif name == "prv_candidates" and _is_list(arr.type) and pa.types.is_struct(arr.type.value_type):
            values = _conform_struct(arr.values)
            new = arr if values is arr.values else type(arr).from_arrays(arr.offsets, values, mask=arr.is_null())
        else:
            continue
        if new is not arr:
            arrays[i], changed = new, True
    return pa.RecordBatch.from_arrays(arrays, names=names) if changed else batch


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
