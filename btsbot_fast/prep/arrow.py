"""The columnar native route: a pyarrow RecordBatch/Table of ZTF/Fink alert columns -> :class:`Batch`,
straight from the Arrow buffers, with no Python loop over alerts' fields.

The three ``stampData`` binary columns go to C++ as zero-copy views (offsets + values + validity);
candidate columns and the history's ``jd``/``magpsf`` become NumPy arrays (one vectorised cast each),
with Arrow's validity bitmaps as the null masks of the missing-data rule (variant.py). The batch is first
brought back to the Avro schema's types (btsbot_fast/io/parquet.py ``conform``), so the features equal
those computed from the Avro packet. Used by the Parquet reader (native engine) and by anything else that
holds alerts as Arrow data (Spark).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from ..io.parquet import conform
from ..io.records import AlertRecord
from ..threads import native_threads
from .batch import Batch, empty_arrays
from .bts import PRV_FIELDS
from .gather import HIST_FID, HIST_ITEM, HIST_JD, HIST_MAG, HIST_POSITIVE, PRV_LACKS_BIT, RECORD_BIT, row_info
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, ISDIFFPOS_COLUMN, POSITIVE_ISDIFFPOS


def preprocess_arrow(batch: Any, threads: int = 0, *, source: str = "<arrow>", first_index: int = 0,
                     conformed: bool = False) -> Batch:
    """Preprocess the alerts of a pyarrow RecordBatch (or Table) with columns ``candidate`` (struct),
    ``prv_candidates`` (list of structs, or null), the three cutouts (``{stampData}`` structs or binary)
    and optionally ``objectId``/``candid``. Rows get ``source`` and indices from ``first_index``;
    ``Batch.records`` hold ``record=None`` (the fields went to C++, not into dicts)."""
    import pyarrow as pa

    if isinstance(batch, pa.Table):
        batch = (batch.combine_chunks().to_batches()[0] if batch.num_rows
                 else pa.RecordBatch.from_pylist([], batch.schema))
    if not conformed:
        batch = conform(batch)
    n = batch.num_rows
    cols = dict(zip(batch.schema.names, batch.columns))
    cand = cols.get("candidate")
    cand_ok = _valid(cand, n)

    stamps = tuple(_stamp_views(cols.get(name), n) for name in CUTOUT_FIELDS)
    candidate = np.full((n, len(CANDIDATE_COLUMNS)), np.nan)
    present = np.where(cand_ok, np.uint64(RECORD_BIT), np.uint64(0)).astype(np.uint64)
    if cand is not None and pa.types.is_struct(cand.type):
        for k, name in enumerate(CANDIDATE_COLUMNS):
            if cand.type.get_field_index(name) < 0:
                continue
            child = cand.field(name)
            candidate[:, k] = _positive(child) if name == ISDIFFPOS_COLUMN else _float64(child)
            present |= (_valid(child, n) & cand_ok).astype(np.uint64) << np.uint64(k)
    offsets, hist_jd, hist_mag, hist_fid, hist_flags, lacks = _history(cols.get("prv_candidates"), n)
    present |= lacks

    triplets, metadata, _, _, bts = empty_arrays(n)
    status, messages = _core.preprocess(*stamps, candidate, present, offsets, hist_jd, hist_mag, hist_fid,
                                        hist_flags, triplets, metadata, bts, native_threads(threads))
    info = row_info(candidate, present)

    oid = cols["objectId"].to_pylist() if "objectId" in cols else [None] * n
    candid = cols["candid"].to_pylist() if "candid" in cols else [None] * n
    records = [AlertRecord(source, first_index + i, o if isinstance(o, str) else None, c, None)
               for i, (o, c) in enumerate(zip(oid, candid))]
    return Batch(records, triplets, metadata, status, messages, info, bts)


def _valid(arr: Any, n: int) -> np.ndarray:
    """Validity as a bool array (all False for a missing or null-typed column)."""
    if arr is None:
        return np.zeros(n, dtype=bool)
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return arr.is_valid().to_numpy(zero_copy_only=False)


def _float64(arr: Any) -> np.ndarray:
    import pyarrow as pa

    if pa.types.is_null(arr.type):
        return np.full(len(arr), np.nan)
    return np.asarray(arr.cast(pa.float64(), safe=False).to_numpy(zero_copy_only=False), dtype=np.float64)


def _positive(arr: Any) -> np.ndarray:
    """isdiffpos (string) -> 1.0 for a positive subtraction ('t' or '1'), else 0.0 (nulls: 0, masked)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        return np.zeros(len(arr))  # null-typed, or a number (2017 prototypes): never the string 't'/'1'
    hit = pc.is_in(arr, value_set=pa.array(POSITIVE_ISDIFFPOS))
    return np.asarray(hit.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.float64)


def _stamp_views(col: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | list:
    """(offsets int64, values uint8, valid uint8) over the stampData binary column: zero-copy for the bytes."""
    import pyarrow as pa

    if col is None or pa.types.is_null(col.type) or col.type.get_field_index("stampData") < 0:
        return [None] * n
    data = col.field("stampData")
    if pa.types.is_null(data.type):
        return [None] * n
    valid = (_valid(col, n) & _valid(data, n)).astype(np.uint8)
    large = pa.types.is_large_binary(data.type)
    bufs = data.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64 if large else np.int32)[data.offset:data.offset + n + 1]
    values = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return (offsets.astype(np.int64), values, valid)


def _history(prv: Any, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """offsets, jd, magpsf, fid, flags of the items (all of them: the core skips non-detections by their
    flags) and the per-alert ``present`` bits of item fields the struct type lacks (gather.PRV_LACKS_BIT)."""
    import pyarrow as pa

    if prv is None or pa.types.is_null(prv.type) or pa.types.is_null(prv.type.value_type):
        return (np.zeros(n + 1, np.int64), np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0, np.uint8),
                np.zeros(n, np.uint64))
    offsets = np.asarray(prv.offsets.to_numpy(zero_copy_only=False), dtype=np.int64)
    items = prv.values
    m = len(items)
    flags = np.where(_valid(items, m), HIST_ITEM, 0).astype(np.uint8)
    if prv.null_count:  # a null list may still span child items (Arrow allows it): they are not history
        lengths = offsets[1:] - offsets[:-1]
        flags[offsets[0]:offsets[-1]] &= np.repeat(_valid(prv, n), lengths).astype(np.uint8) * np.uint8(0xFF)
    fields = {}
    for name, bit in (("jd", HIST_JD), ("magpsf", HIST_MAG), ("fid", HIST_FID)):
        if items.type.get_field_index(name) < 0:
            fields[name] = np.full(m, np.nan)
            continue
        child = items.field(name)
        fields[name] = _float64(child)
        flags |= np.where(_valid(child, m), bit, 0).astype(np.uint8)
    if items.type.get_field_index("isdiffpos") >= 0:
        flags |= np.where(_positive(items.field("isdiffpos")) == 1.0, HIST_POSITIVE, 0).astype(np.uint8)
    # a field the item type lacks: every alert with a non-null item has an item without it
    lacks_bits = sum(PRV_LACKS_BIT << j for j, name in enumerate(PRV_FIELDS) if items.type.get_field_index(name) < 0)
    lacks = np.zeros(n, np.uint64)
    if lacks_bits:
        items_so_far = np.concatenate([[0], np.cumsum(flags & HIST_ITEM, dtype=np.int64)])
        has_item = items_so_far[offsets[1:]] - items_so_far[offsets[:-1]]
        lacks = np.where(has_item > 0, np.uint64(lacks_bits), np.uint64(0)).astype(np.uint64)
    return offsets, fields["jd"], fields["magpsf"], fields["fid"], flags, lacks


__all__ = ["preprocess_arrow"]
