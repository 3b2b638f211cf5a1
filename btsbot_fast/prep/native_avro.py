"""The native alert reader: Avro OCF bytes, files and tar archives -> preprocessed :class:`Batch` objects.

This drives ``_core.Reader`` (csrc/avro/reader.hpp), which reads, inflates, decodes (with a program compiled
from each writer schema: :mod:`btsbot_fast.prep.schema_program`, cached by schema text) and preprocesses on
the native thread pool without the GIL and without a Python object per alert. Rows are the fastavro
path's rows: one per record of a sync-verified block, in order, and a corrupt source ends with exactly one
DECODE_ERROR row at the record where it breaks. The reader keeps its place between batches, so a block's
records are decoded once however many batches they span (time is linear in records).

A source the reader does not decode natively (an unreadable header, a codec not compiled in or unknown, a
schema it cannot map exactly) is read by the fastavro path instead, so results never depend on which path
read a buffer. ``Batch.records`` hold ``record=None`` for natively decoded rows.

On corrupt input the native reader is stricter than fastavro in a few places, by design: it verifies the
snappy CRC32, rejects negative block counts and array/map block sizes that disagree with their items, and
enforces :data:`DEFAULT_LIMITS` (fastavro would loop or allocate).

Memory: every byte the reader holds (file contents, archive members, decompressed blocks) comes out of one
budget of ``max_inflight_bytes`` (:data:`DEFAULT_MAX_INFLIGHT_BYTES`), a hard cap per call: a batch ends
early rather than go over it. Files above 16 MiB are memory-mapped (paged by the OS) instead of read;
archives read ahead at most 64 MiB of members.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .. import _core
from ..io.avro import records_from_buffer
from ..io.paths import ARCHIVE
from ..io.records import NOT_A_RECORD, AlertRecord, cannot_read, corrupt_avro, unsupported_schema
from ..status import Status
from ..threads import native_threads
from .batch import Batch, empty_arrays
from .records import batches
from .schema_program import ProgramCache, SchemaProgram

#: resource bounds for untrusted input (see csrc/avro/limits.hpp); exceeding one is a DECODE_ERROR row
DEFAULT_LIMITS = {
    "max_block_bytes": 64 << 20,  # decompressed bytes per OCF block
    "max_block_records": 1 << 20,  # records one block may declare
    "max_depth": 64,  # nesting of records/arrays/maps/unions in one record
    "max_items": 1 << 22,  # array/map items in one record
}
#: bytes one reading call holds at once (file contents, archive members, decompressed blocks); it must be
#: at least max_block_bytes + MAP_THRESHOLD
DEFAULT_MAX_INFLIGHT_BYTES = 256 << 20
#: files larger than this are memory-mapped (paged by the OS) instead of read into the budget
MAP_THRESHOLD = 16 << 20

_PROGRAMS = ProgramCache()

# RowReason codes (csrc/avro/reader.hpp)
_CORRUPT, _NOT_RECORD, _FOREIGN, _READ_ERROR = 1, 2, 3, 4
_STATUS_OF_REASON = {_CORRUPT: Status.DECODE_ERROR, _NOT_RECORD: Status.DECODE_ERROR,
                     _FOREIGN: Status.UNSUPPORTED_SCHEMA, _READ_ERROR: Status.DECODE_ERROR}


def snappy_compiled_in() -> bool:
    return bool(_core.avro_snappy)


def _message(reason: int, index: int, detail: str) -> str:
    if reason == _CORRUPT:
        return corrupt_avro(index, detail)
    if reason == _NOT_RECORD:
        return NOT_A_RECORD
    if reason == _FOREIGN:
        return unsupported_schema(detail)
    return cannot_read(detail)


class NativeReader:
    """A ``_core.Reader`` and the Python side of its protocol (schemas to compile, fallback sources)."""

    def __init__(self, limits: dict[str, int] | None = None, max_inflight_bytes: int | None = None,
                 map_threshold: int = MAP_THRESHOLD):
        lim = dict(DEFAULT_LIMITS, **(limits or {}))
        inflight = max_inflight_bytes or max(DEFAULT_MAX_INFLIGHT_BYTES, lim["max_block_bytes"] + map_threshold)
        self._reader = _core.Reader(**lim, max_inflight_bytes=inflight, map_threshold=map_threshold)
        #: sources handed to the fastavro path, in order
        self.fallback_sources: list[str] = []

    @property
    def pending(self) -> int:
        return self._reader.pending

    @property
    def peak_bytes_held(self) -> int:
        return self._reader.peak_bytes_held

    def add_files(self, paths: list[str]) -> None:
        self._reader.add_files(paths, paths)

    def add_archive(self, path: str) -> None:
        self._reader.add_archive(path, path)

    def add_buffers(self, items: Iterable[tuple[str, Any]]) -> None:
        names, buffers = [], []
        for source, data in items:
            if isinstance(data, BaseException):
                self._flush(names, buffers)
                self._reader.add_error(source, str(data))
            else:
                names.append(source)
                buffers.append(data)
        self._flush(names, buffers)

    def _flush(self, names: list, buffers: list) -> None:
        if buffers:
            self._reader.add_buffers(names, buffers)
            names.clear()
            buffers.clear()

    def _compile(self, schemas: list[bytes]) -> None:
        for text in schemas:
            prog = _PROGRAMS.get(text)
            if isinstance(prog, SchemaProgram):
                self._reader.set_program(text, prog.words, prog.name)
            else:  # the fastavro path reads this schema's sources
                self._reader.set_program(text, None, "")

    def batches(self, capacity: int, threads: int = 0, refill: Any = None, recycle: int = 0) -> Iterator[Batch]:
        """Batches of at most ``capacity`` rows until the reader's queue is empty; ``refill()`` (if
        given) is called whenever fewer than ``capacity`` sources are waiting, to add more. With
        ``recycle`` > 0 the output arrays of a batch are reused ``recycle`` batches later (for consumers
        that are done with a batch by then: no fresh pages to fault in for every batch)."""
        n_threads = native_threads(threads)
        more = refill is not None
        ring: list[tuple] = []
        turn = 0
        while True:
            while more and self._reader.pending < 2 * capacity:
                more = refill()
            if recycle and len(ring) == recycle:
                arrays = ring[turn % recycle]
            else:
                arrays = (*empty_arrays(capacity), np.empty(capacity, np.int64), np.empty(capacity, np.uint8),
                          np.empty(capacity, np.uint8), np.empty(capacity, np.int64), np.empty(capacity, np.int32))
                if recycle:
                    ring.append(arrays)
            turn += 1
            triplets, metadata, status, info, bts, candid, reason, flags, index, source = arrays
            n, stop, sources, messages, ids, schemas, fallback = self._reader.next_batch(
                triplets, metadata, candid, info, bts, status, reason, flags, index, source, n_threads)
            if stop == "need_schemas":
                self._compile(schemas)
                continue
            if n:
                yield _batch(n, triplets, metadata, candid, info, bts, status, reason, flags, index, source, sources,
                             messages, ids)
            if stop == "fallback":
                name, data = fallback
                self.fallback_sources.append(name)
                yield from batches(records_from_buffer(name, data), capacity, "native", threads)
            elif stop == "end" and not more:
                return


def _batch(n, triplets, metadata, candid, info, bts, status, reason, flags, index, source, sources, messages,
           ids) -> Batch:
    names = [sources[k] for k in source[:n].tolist()]
    reasons = reason[:n].tolist()
    indices = index[:n].tolist()
    cids = candid[:n].tolist()
    has = (flags[:n] & 1).tolist()
    records = []
    for j in range(n):
        cid = cids[j] if has[j] else None
        r = reasons[j]
        if r:
            msg = _message(r, indices[j], messages[j])
            messages[j] = msg
            records.append(AlertRecord(names[j], indices[j], ids[j], cid, None, _STATUS_OF_REASON[r], msg))
        else:
            records.append(AlertRecord(names[j], indices[j], ids[j], cid, None))
    return Batch(records, triplets[:n], metadata[:n], status[:n], messages, info[:n], bts[:n])


def buffer_batches(buffers: Iterable[tuple[str, Any]], batch_size: int, threads: int = 0,
                   limits: dict[str, int] | None = None, max_inflight_bytes: int | None = None) -> Iterator[Batch]:
    """Batches of at most ``batch_size`` rows from ``(source, bytes | Exception)`` buffers (Kafka message
    values with made-up sources, archive members ...), in input order. Buffers are taken from the
    iterable as the reader needs them (never the whole stream at once)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    reader = NativeReader(limits, max_inflight_bytes)
    it = iter(buffers)

    def refill() -> bool:
        chunk = list(itertools.islice(it, batch_size))
        reader.add_buffers(chunk)
        return len(chunk) == batch_size

    yield from reader.batches(batch_size, threads, refill)


def input_batches(inputs: Iterable[tuple[str, str]], batch_size: int, threads: int = 0,
                  limits: dict[str, int] | None = None, max_inflight_bytes: int | None = None,
                  recycle: int = 0) -> Iterator[Batch]:
    """Batches from ``(kind, path)`` inputs of kind ``avro`` or ``archive`` (btsbot_fast.io.paths), read
    by C++ (files in parallel, archives streamed on their own thread)."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    reader = NativeReader(limits, max_inflight_bytes)
    it = iter(inputs)
    chunk = max(batch_size, 256)

    def refill() -> bool:
        taken = 0
        files: list[str] = []
        for kind, path in itertools.islice(it, chunk):
            taken += 1
            if kind == ARCHIVE:
                if files:
                    reader.add_files(files)
                    files = []
                reader.add_archive(os.fspath(path))
            else:
                files.append(os.fspath(path))
        if files:
            reader.add_files(files)
        return taken == chunk

    yield from reader.batches(batch_size, threads, refill, recycle)


__all__ = ["DEFAULT_LIMITS", "DEFAULT_MAX_INFLIGHT_BYTES", "MAP_THRESHOLD", "NativeReader", "buffer_batches",
           "input_batches", "snappy_compiled_in"]
