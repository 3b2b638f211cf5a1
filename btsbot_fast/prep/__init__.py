"""Preprocessing front: alert records -> model-ready tensors, by the native core or the NumPy twin.

Both engines take the same decoded records and fill the same :class:`Batch`; the engine is chosen here
and nowhere else. Failures are per alert (status + message), never exceptions that end a batch.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..io import AlertRecord, expand_paths, is_parquet, iter_buffers, read_alerts, records_from_buffer, records_from_parquet
from ..status import Status
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, FEATURE_NAMES, ROW_INFO, STAMP_SIZE, VARIANT

ENGINES = ("native", "python")

__all__ = [
    "Batch", "ENGINES", "FEATURE_NAMES", "VARIANT", "Preprocessed", "batches", "buffer_batches", "path_batches",
    "preprocess_paths", "preprocess_records", "require_engine",
]


@dataclass
class Batch:
    """Preprocessed alerts, one row per input record (failed rows hold zeros)."""

    records: list[AlertRecord]
    triplets: np.ndarray  # (N, 63, 63, 3) float32
    metadata: np.ndarray  # (N, 25) float32, FEATURE_NAMES order
    status: np.ndarray  # (N,) uint8, Status codes
    messages: list[str]
    #: (N, 3) float64: the candidate's ROW_INFO values jd, magpsf, fid (NaN when unknown), also for
    #: rows that failed preprocessing
    info: np.ndarray = field(default_factory=lambda: np.empty((0, len(ROW_INFO))))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def jd(self) -> np.ndarray:
        return self.info[:, 0]

    @property
    def magpsf(self) -> np.ndarray:
        return self.info[:, 1]

    @property
    def fid(self) -> np.ndarray:
        return self.info[:, 2]

    @property
    def ok(self) -> np.ndarray:
        return self.status == Status.OK


def _empty_arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.zeros((n, STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32),
            np.zeros((n, len(FEATURE_NAMES)), dtype=np.float32),
            np.zeros(n, dtype=np.uint8))


def _row_info(rec: AlertRecord) -> list[float]:
    cand = rec.record.get("candidate") if rec.record else None
    if not isinstance(cand, dict):
        return [float("nan")] * len(ROW_INFO)
    return [float("nan") if (v := cand.get(name)) is None else float(v) for name in ROW_INFO]


def _preprocess_python(records: Sequence[AlertRecord], out: Batch) -> None:
    from . import reference

    for i, rec in enumerate(records):
        if out.status[i] != Status.OK:
            continue
        try:
            out.triplets[i], out.metadata[i] = reference.preprocess_record(rec.record)
        except reference.PreprocessError as exc:
            out.status[i], out.messages[i] = exc.status, exc.message


def _gather_native_inputs(records: Sequence[AlertRecord], active: np.ndarray):
    """Pull the fields the native core needs out of decoded records (stamps, candidate matrix, history)."""
    n = len(records)
    stamps: list[list[bytes | None]] = [[None] * n for _ in CUTOUT_FIELDS]
    candidate = np.full((n, len(CANDIDATE_COLUMNS)), np.nan)
    offsets = np.zeros(n + 1, dtype=np.int64)
    hist_jd: list[float] = []
    hist_mag: list[float] = []
    nan = float("nan")
    for i, rec in enumerate(records):
        r = rec.record
        if active[i]:
            for c, name in enumerate(CUTOUT_FIELDS):
                cutout = r.get(name)
                if isinstance(cutout, dict):
                    stamps[c][i] = cutout.get("stampData")
            cand = r.get("candidate")
            if isinstance(cand, dict):
                candidate[i] = [nan if (v := cand.get(col)) is None else v for col in CANDIDATE_COLUMNS]
            for p in r.get("prv_candidates") or ():
                mag = p.get("magpsf") if isinstance(p, dict) else None
                if mag is not None:  # detections only; a null jd is the core's to report
                    jd = p.get("jd")
                    hist_jd.append(nan if jd is None else jd)
                    hist_mag.append(mag)
        offsets[i + 1] = len(hist_jd)
    return stamps, candidate, offsets, np.asarray(hist_jd, dtype=np.float64), np.asarray(hist_mag, dtype=np.float64)


def _preprocess_native(records: Sequence[AlertRecord], out: Batch, threads: int) -> None:
    from .. import _core

    active = out.status == Status.OK
    stamps, candidate, offsets, hist_jd, hist_mag = _gather_native_inputs(records, active)
    status, messages = _core.preprocess(*stamps, candidate, offsets, hist_jd, hist_mag,
                                        out.triplets, out.metadata, threads)
    for i in np.flatnonzero(active):
        out.status[i], out.messages[i] = status[i], messages[i]


def require_engine(engine: str) -> None:
    """Fail early, saying how to fix it, for an unknown engine or one whose dependencies are missing."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    if engine == "python":
        try:
            import astropy.io.fits  # noqa: F401
        except ImportError:
            raise ImportError("the python engine needs astropy: pip install 'btsbot-fast[reference]'") from None


def preprocess_records(records: Sequence[AlertRecord], engine: str = "native", threads: int = 0) -> Batch:
    """Preprocess decoded records; rows whose record already failed keep that failure."""
    require_engine(engine)
    records = list(records)
    triplets, metadata, status = _empty_arrays(len(records))
    messages = [rec.message for rec in records]
    for i, rec in enumerate(records):
        status[i] = rec.status
        if rec.ok and not isinstance(rec.record.get("candidate"), dict):
            status[i], messages[i] = Status.MISSING_FIELD, "missing field: candidate"
    batch = Batch(records, triplets, metadata, status, messages,
                  np.array([_row_info(r) for r in records], dtype=np.float64).reshape(-1, len(ROW_INFO)))
    if engine == "python":
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


def buffer_batches(buffers: Iterable[tuple[str, bytes | Exception]], batch_size: int, engine: str = "native",
                   threads: int = 0) -> Iterator[Batch]:
    """Batches from Avro OCF buffers ``(source, bytes)``: the native engine decodes them in C++ (falling
    back to fastavro per buffer where it must); the python engine uses fastavro + the NumPy twin."""
    if engine == "native":
        from .native_avro import native_batches

        return native_batches(buffers, batch_size, threads)
    records = (rec for source, data in buffers for rec in records_from_buffer(source, data))
    return batches(records, batch_size, engine, threads)


def path_batches(paths: Iterable[str | os.PathLike[str]], batch_size: int, engine: str = "native",
                 threads: int = 0) -> Iterator[Batch]:
    """Batches for every alert under ``paths`` (files, directories, tar archives, Parquet), in order."""
    if engine != "native":
        yield from batches(read_alerts(paths), batch_size, engine, threads)
        return
    # runs of Avro files/archives stream through the native decoder; a Parquet file is read by pyarrow
    for parquet, group in itertools.groupby(expand_paths(paths), key=is_parquet):
        if parquet:
            for path in group:
                yield from batches(records_from_parquet(path), batch_size, engine, threads)
        else:
            yield from buffer_batches(iter_buffers(group), batch_size, engine, threads)


@dataclass
class Preprocessed:
    """Preprocessed alerts of whole files, as arrays (what ``btsbot-fast preprocess`` writes)."""

    triplets: np.ndarray
    metadata: np.ndarray
    candid: np.ndarray  # int64, -1 when unknown
    objectId: np.ndarray  # object array of str ('' when unknown)
    jd: np.ndarray
    status: np.ndarray
    message: list[str]
    source: list[str]

    def __len__(self) -> int:
        return len(self.status)


def preprocess_paths(paths: Iterable[str | os.PathLike[str]], engine: str = "native", threads: int = 0,
                     batch_size: int = 1024) -> Preprocessed:
    """Read and preprocess every alert record under ``paths`` into one in-memory :class:`Preprocessed`."""
    parts = list(path_batches(paths, batch_size, engine, threads))
    recs = [r for b in parts for r in b.records]
    cat = (lambda xs, empty: np.concatenate(xs) if xs else empty)
    triplets, metadata, status = _empty_arrays(0)
    return Preprocessed(
        triplets=cat([b.triplets for b in parts], triplets),
        metadata=cat([b.metadata for b in parts], metadata),
        candid=np.array([-1 if r.candid is None else r.candid for r in recs], dtype=np.int64),
        objectId=np.array([r.objectId or "" for r in recs], dtype=object),
        jd=cat([b.jd for b in parts], np.empty(0)),
        status=cat([b.status for b in parts], status),
        message=[m for b in parts for m in b.messages],
        source=[r.source for r in recs],
    )
