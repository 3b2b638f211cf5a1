"""Decoded records -> :class:`Batch`, by the native core or the NumPy twin: the engine switch.

Both engines take the same records and fill the same Batch; failures are per alert (status + message),
never exceptions that end a batch. Records that failed already (a reader's DECODE_ERROR or
UNSUPPORTED_SCHEMA) keep their failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from ..io.records import AlertRecord
from ..messages import install_hint
from ..status import Status
from ..threads import native_threads
from .batch import Batch, empty_arrays
from .variant import ROW_INFO

ENGINES = ("native", "python")


def require_engine(engine: str) -> None:
    """Fail early, saying how to fix it, for an unknown engine or one whose dependencies are missing."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "python":
        try:
            import astropy.io.fits  # noqa: F401
        except ImportError:
            raise ImportError("the python engine needs astropy: " + install_hint("reference")) from None


def _row_info(rec: AlertRecord) -> list[float]:
    """The python engine's ``Batch.info`` row (the native engine's: gather.row_info of its columns)."""
    cand = rec.record.get("candidate") if rec.record else None
    if not isinstance(cand, dict):
        return [float("nan")] * len(ROW_INFO)
    return [float("nan") if (v := cand.get(name)) is None else float(v) for name in ROW_INFO]


def _preprocess_python(records: Sequence[AlertRecord], out: Batch) -> None:
    from . import bts, reference

    out.info = np.array([_row_info(r) for r in records], dtype=np.float64).reshape(-1, len(ROW_INFO))
    out.bts = np.array([bts.verdict(r.record) for r in records], dtype=np.uint16)
    for i, rec in enumerate(records):
        if out.status[i] != Status.OK:
            continue
        try:
            out.triplets[i], out.metadata[i] = reference.preprocess_record(rec.record)
        except reference.PreprocessError as exc:
            out.status[i], out.messages[i] = exc.status, exc.message


def _preprocess_native(records: Sequence[AlertRecord], out: Batch, threads: int) -> None:
    from .. import _core
    from .gather import columns_from_records, row_info

    active = out.status == Status.OK
    cols = columns_from_records(records)
    status, messages = _core.preprocess(*cols.core_args(), out.triplets, out.metadata, out.bts,
                                        native_threads(threads))
    out.info = row_info(cols.candidate, cols.present)
    for i in np.flatnonzero(active):
        out.status[i], out.messages[i] = status[i], messages[i]


def preprocess_records(records: Sequence[AlertRecord], engine: str = "native", threads: int = 0) -> Batch:
    """Preprocess decoded records; rows whose record already failed keep that failure."""
    require_engine(engine)
    records = list(records)
    triplets, metadata, status, info, bts = empty_arrays(len(records))
    messages = [rec.message for rec in records]
    for i, rec in enumerate(records):
        status[i] = rec.status
    batch = Batch(records, triplets, metadata, status, messages, info, bts)  # each engine fills info, bts
    if engine == "python":  # (ok rows are assigned whole, the others zeroed below)
        _preprocess_python(records, batch)
    else:
        _preprocess_native(records, batch, threads)
    failed = batch.status != Status.OK
    if failed.any():  # one rule for both engines: failed rows hold zeros, never partial data
        batch.triplets[failed] = 0
        batch.metadata[failed] = 0
    return batch


def batches(records: Iterable[AlertRecord], batch_size: int, engine: str = "native",
            threads: int = 0) -> Iterator[Batch]:
    """Group a record stream into preprocessed batches of at most ``batch_size`` rows, in order."""
    chunk: list[AlertRecord] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= batch_size:
            yield preprocess_records(chunk, engine, threads)
            chunk = []
    if chunk:
        yield preprocess_records(chunk, engine, threads)


__all__ = ["ENGINES", "batches", "preprocess_records", "require_engine"]
