"""Preprocessing: alert records and raw alert bytes -> model-ready tensors (:class:`Batch`).

    batch.py          Batch, the unit everything downstream consumes
    variant.py        the btsbot-v1 contract (orders, constants, the missing-data rule)
    records.py        decoded records -> Batch: the engine switch (native core or the NumPy twin)
    gather.py         decoded records -> the native core's columns
    reference.py      the NumPy + astropy twin (--engine python)
    native_avro.py    the native reader: Avro bytes, files, archives -> Batch (C++ end to end)
    schema_program.py writer schema -> the program the native reader decodes with
    arrow.py          Arrow record batches (Parquet, Spark) -> Batch, column by column
    npz.py            batches -> .npz, streamed (btsbot-fast preprocess)

This module plans the work: which reader takes which input, in order, in batches of at most
``batch_size`` rows.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..io import PARQUET, expand_paths, read_alerts, read_parquet, records_from_buffer
from .batch import Batch
from .records import ENGINES, batches, preprocess_records, require_engine
from .variant import FEATURE_NAMES, STAMP_SIZE, VARIANT

__all__ = [
    "Batch", "ENGINES", "FEATURE_NAMES", "VARIANT", "Preprocessed", "batches", "buffer_batches", "path_batches",
    "preprocess_paths", "preprocess_records", "require_engine",
]


def buffer_batches(buffers: Iterable[tuple[str, bytes | Exception]], batch_size: int, engine: str = "native",
                   threads: int = 0, *, max_inflight_bytes: int | None = None) -> Iterator[Batch]:
    """Batches from Avro OCF buffers ``(source, bytes | Exception)``: the native engine decodes them in C++
    (falling back to fastavro per buffer where it must); the python engine uses fastavro + the twin."""
    if engine == "native":
        from .native_avro import buffer_batches as native

        return native(buffers, batch_size, threads, max_inflight_bytes=max_inflight_bytes)
    return batches((rec for source, data in buffers for rec in records_from_buffer(source, data)), batch_size,
                   engine, threads)


def path_batches(paths: Iterable[str | os.PathLike[str]], batch_size: int, engine: str = "native",
                 threads: int = 0, *, max_inflight_bytes: int | None = None, recycle: int = 0) -> Iterator[Batch]:
    """Batches for every alert under ``paths`` (files, directories, tar archives, Parquet), in order.
    ``recycle`` > 0: natively read batches reuse their arrays that many batches later (only for a
    consumer that is done with each batch by then, like the .npz writer)."""
    if engine != "native":
        yield from batches(read_alerts(paths), batch_size, engine, threads)
        return
    from .arrow import preprocess_arrow
    from .native_avro import input_batches

    # runs of Avro files and archives stream through the native reader; Parquet files column by column
    for parquet, group in itertools.groupby(expand_paths(paths), key=lambda item: item[0] == PARQUET):
        if not parquet:
            yield from input_batches(group, batch_size, threads, max_inflight_bytes=max_inflight_bytes,
                                     recycle=recycle)
            continue
        for _, path in group:
            for part in read_parquet(path):
                for start in range(0, len(part), batch_size):
                    if part.alerts is None:
                        yield preprocess_records(part.records[start:start + batch_size], engine, threads)
                    else:
                        yield preprocess_arrow(part.alerts.slice(start, batch_size), threads, source=part.source,
                                               first_index=part.first_index + start, conformed=True)


@dataclass
class Preprocessed:
    """Preprocessed alerts of whole files, as arrays in memory."""

    triplets: np.ndarray
    metadata: np.ndarray
    candid: np.ndarray  # int64, -1 when unknown
    objectId: np.ndarray  # object array of str ('' when unknown)
    jd: np.ndarray
    status: np.ndarray
    message: list[str]
    source: list[str]
    bts: np.ndarray  # uint16 BTS filter verdict codes (prep/bts.py)

    def __len__(self) -> int:
        return len(self.status)


def preprocess_paths(paths: Iterable[str | os.PathLike[str]], engine: str = "native", threads: int = 0,
                     batch_size: int = 1024) -> Preprocessed:
    """Read and preprocess every alert record under ``paths`` into memory: the model's inputs.

    ``btsbot-fast preprocess`` streams to an ``.npz`` instead (btsbot_fast/prep/npz.py); for a night
    too big for memory use :func:`path_batches`.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files, directories (searched recursively), tar archives and Parquet alert tables.
    engine : {"native", "python"}, default ``"native"``
        The C++ core or the pure-Python twin (the ``[reference]`` extra).
    threads : int, default 0
        Native threads; 0: every core the process may run on.
    batch_size : int, default 1024
        Records read per native call.

    Returns
    -------
    Preprocessed
        ``triplets`` (N, 63, 63, 3) and ``metadata`` (N, 25) float32, with each record's ``candid``,
        ``objectId``, ``jd``, ``status`` and message, in input order.
    """
    parts = list(path_batches(paths, batch_size, engine, threads))
    n = sum(len(b) for b in parts)
    out = Preprocessed(np.empty((n, STAMP_SIZE, STAMP_SIZE, 3), np.float32),
                       np.empty((n, len(FEATURE_NAMES)), np.float32),
                       np.empty(n, np.int64), np.empty(n, dtype=object), np.empty(n), np.empty(n, np.uint8), [], [],
                       np.empty(n, np.uint16))
    row = 0
    for b in parts:
        stop = row + len(b)
        out.triplets[row:stop], out.metadata[row:stop] = b.triplets, b.metadata
        out.jd[row:stop], out.status[row:stop], out.bts[row:stop] = b.jd, b.status, b.bts
        candid, oid, source = b.row_ids()
        out.candid[row:stop], out.objectId[row:stop] = candid, oid
        out.message.extend(b.messages)
        out.source.extend(source)
        row = stop
    return out
