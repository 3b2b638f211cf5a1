"""Native reader path: raw Avro OCF bytes -> preprocessed :class:`~btsbot_fast.prep.Batch` objects.

``native_batches`` is the native twin of ``batches(records_from_buffer(...))``: the C++ core scans each
buffer's header and block framing (``_core.scan_ocf``), decodes the records with a program compiled from
the writer schema (:mod:`btsbot_fast.io.schema_program`, cached by schema text) and runs the cutout +
feature core on views of the bytes (``_core.decode_preprocess``), on native threads without the GIL and
without a Python object per alert. Rows are the fastavro path's rows: one per record of a sync-verified
block, in order, and a corrupt buffer ends with exactly one DECODE_ERROR row at the record where it breaks.

A buffer the native reader does not handle (an unreadable header, a codec not compiled in or unknown, a
schema it cannot map exactly, a read error) is read by the fastavro path instead, so results never
depend on which path read a buffer. ``Batch.records`` hold ``record=None`` for natively decoded rows.

Rows of a block whose records fail part-way: the records before the failing one keep their rows, the
failing record's row becomes the buffer's DECODE_ERROR row, and nothing after it is kept (exactly what
the fastavro path yields). On corrupt input the native reader is stricter than fastavro in a few places,
by design: it verifies the snappy CRC32, rejects negative block counts and array/map block sizes that
disagree with their items, and enforces :data:`DEFAULT_LIMITS` (fastavro would loop or allocate).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..io import AlertRecord, records_from_buffer
from ..io.schema_program import ProgramCache, SchemaProgram
from ..status import Status
from . import Batch, batches, preprocess_records
from .variant import FEATURE_NAMES, ROW_INFO, STAMP_SIZE

#: resource bounds for untrusted input (see csrc/avro/limits.hpp); exceeding one is a DECODE_ERROR row
DEFAULT_LIMITS = {
    "max_block_bytes": 64 << 20,  # decompressed bytes per OCF block
    "max_block_records": 1 << 20,  # records one block may declare
    "max_depth": 64,  # nesting of records/arrays/maps/unions in one record
    "max_items": 1 << 22,  # array/map items in one record
}

# scan_ocf info columns / codes (csrc/avro/decode.hpp, ocf.hpp)
_SCHEMA, _CODEC, _STATE, _NRECORDS, _NBLOCKS = range(5)
_STATE_OK, _STATE_HEADER, _STATE_BODY, _STATE_CODEC = range(4)

_PROGRAMS = ProgramCache()

#: statuses the reader itself gives a record (the others come from preprocessing)
_RECORD_LEVEL = (Status.DECODE_ERROR, Status.UNSUPPORTED_SCHEMA)


def native_available() -> bool:
    """Whether the extension has the native Avro reader."""
    try:
        from .. import _core
    except ImportError:
        return False
    return hasattr(_core, "decode_preprocess")


def snappy_compiled_in() -> bool:
    from .. import _core

    return bool(getattr(_core, "avro_snappy", False))


def _corrupt(index: int, detail: str) -> str:
    where = f" after {index} record(s)" if index else ""
    return f"corrupt Avro data{where}: {detail}"


@dataclass(eq=False)
class _Entry:
    """One buffer and what is left to schedule of it."""

    source: str
    data: Any
    program: SchemaProgram | None = None
    blocks: np.ndarray | None = None  # (k, 2) offset, count
    next_block: int = 0
    next_skip: int = 0  # records of blocks[next_block] already scheduled
    next_record: int = 0  # buffer-level index of the next record
    tail_message: str = ""  # scan error after the last good block: one more DECODE_ERROR row
    tail_pending: bool = False
    fallback: Iterator[AlertRecord] | None = None
    failed: bool = False
    pending: int = 0  # rows known to be left (fallback: 1 until exhausted)


@dataclass
class _Plan:
    tasks: list[tuple[_Entry, int, int, int, int, int]] = field(default_factory=list)  # entry, off, skip, n, row, rec
    tails: list[tuple[_Entry, int, int]] = field(default_factory=list)  # entry, row, record index
    python: list[tuple[_Entry, int, list[AlertRecord]]] = field(default_factory=list)  # entry, row, records
    rows: int = 0


def _as_bytes(data: Any) -> Any:
    return data if isinstance(data, (bytes, bytearray)) else bytes(data)


def _scan(chunk: list[tuple[str, Any]], limits: dict[str, int]) -> list[_Entry]:
    """Scan a chunk of (source, bytes | Exception) buffers into queue entries."""
    from .. import _core

    entries = [_Entry(src, data) for src, data in chunk]
    native = [e for e in entries if not isinstance(e.data, BaseException)]
    if native:
        schemas, info, blocks, messages = _core.scan_ocf([e.data for e in native], **limits)
        programs = [_PROGRAMS.get(s) for s in schemas]
        starts = np.concatenate([[0], np.cumsum(info[:, _NBLOCKS])])
        for k, e in enumerate(native):
            state = int(info[k, _STATE])
            prog = programs[int(info[k, _SCHEMA])] if info[k, _SCHEMA] >= 0 else None
            if state in (_STATE_HEADER, _STATE_CODEC) or not isinstance(prog, SchemaProgram):
                continue  # fastavro reads it (same rows and messages as the reference path)
            e.program = prog
            e.blocks = blocks[starts[k]:starts[k + 1]]
            e.pending = int(info[k, _NRECORDS])
            if state == _STATE_BODY:
                e.tail_message = _corrupt(e.pending, messages[k])
                e.tail_pending = True
                e.pending += 1
    for e in entries:
        if e.program is None:
            data = e.data if isinstance(e.data, BaseException) else _as_bytes(e.data)
            e.fallback = records_from_buffer(e.source, data)
            e.pending = 1
    return entries


def _plan(queue: deque[_Entry], capacity: int) -> _Plan:
    plan = _Plan()
    while queue and plan.rows < capacity:
        e = queue[0]
        if e.fallback is not None:
            want = capacity - plan.rows
            recs = list(itertools.islice(e.fallback, want))
            if recs:
                plan.python.append((e, plan.rows, recs))
                plan.rows += len(recs)
            if len(recs) < want:
                queue.popleft()
            continue
        assert e.blocks is not None
        while e.next_block < len(e.blocks) and plan.rows < capacity:
            offset, count = int(e.blocks[e.next_block, 0]), int(e.blocks[e.next_block, 1])
            take = min(count - e.next_skip, capacity - plan.rows)
            plan.tasks.append((e, offset, e.next_skip, take, plan.rows, e.next_record))
            plan.rows += take
            e.next_record += take
            e.next_skip += take
            e.pending -= take
            if e.next_skip == count:
                e.next_block += 1
                e.next_skip = 0
        if e.next_block == len(e.blocks):
            if e.tail_pending and plan.rows < capacity:
                plan.tails.append((e, plan.rows, e.next_record))
                plan.rows += 1
                e.pending -= 1
                e.tail_pending = False
            if not e.tail_pending:
                queue.popleft()
    return plan


def _run(plan: _Plan, threads: int, limits: dict[str, int]) -> Batch:
    from .. import _core

    n = plan.rows
    triplets = np.empty((n, STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32)
    metadata = np.empty((n, len(FEATURE_NAMES)), dtype=np.float32)
    candid = np.full(n, -1, dtype=np.int64)
    info = np.full((n, len(ROW_INFO)), np.nan, dtype=np.float64)
    status = np.zeros(n, dtype=np.uint8)
    flags = np.zeros(n, dtype=np.uint8)
    records: list[AlertRecord | None] = [None] * n
    messages: list[str] = [""] * n
    ids: list[str | None] = [None] * n
    task_errors = np.empty(0, dtype=np.int64)

    if plan.tasks:
        buf_index: dict[int, int] = {}
        buffers: list[Any] = []
        prog_index: dict[int, int] = {}
        programs: list[np.ndarray] = []
        table = np.empty((len(plan.tasks), 7), dtype=np.int64)
        for t, (e, offset, skip, count, row, rec) in enumerate(plan.tasks):
            b = buf_index.setdefault(id(e), len(buffers))
            if b == len(buffers):
                buffers.append(e.data)
            assert e.program is not None
            p = prog_index.setdefault(id(e.program), len(programs))
            if p == len(programs):
                programs.append(e.program.words)
            table[t] = (b, p, offset, skip, count, row, rec)
        ids, messages, task_errors = _core.decode_preprocess(
            buffers, programs, table, triplets, metadata, candid, info, status, flags, threads, **limits)

    for e, row, index in plan.tails:
        status[row] = Status.DECODE_ERROR
        triplets[row] = 0
        metadata[row] = 0
        messages[row] = e.tail_message
        records[row] = AlertRecord(e.source, index, None, None, None, Status.DECODE_ERROR, e.tail_message)
    for e, row, recs in plan.python:
        sub = preprocess_records(recs, "native", threads)
        stop = row + len(recs)
        triplets[row:stop], metadata[row:stop] = sub.triplets, sub.metadata
        status[row:stop], info[row:stop] = sub.status, sub.info
        messages[row:stop] = sub.messages
        records[row:stop] = recs

    # native rows -> AlertRecords; a task's failure ends its buffer (later rows are dropped)
    failed_at: dict[int, int] = {}
    st_list, candid_list, flag_list = status.tolist(), candid.tolist(), flags.tolist()
    unused = _core.AVRO_ROW_UNUSED
    for t, (e, offset, skip, count, row, rec) in enumerate(plan.tasks):
        err = int(task_errors[t])
        if err >= 0 and (id(e) not in failed_at or err < failed_at[id(e)]):
            failed_at[id(e)] = err
        prog = e.program
        assert prog is not None
        source = e.source
        for i in range(row, row + count):
            st = st_list[i]
            if st == unused:
                continue
            cid = candid_list[i] if flag_list[i] & 1 else None
            # the record's own status is the reader's verdict (as records_from_buffer gives it); the
            # batch status adds the preprocessing outcome
            if st in _RECORD_LEVEL:
                if st == Status.UNSUPPORTED_SCHEMA:
                    messages[i] = prog.unsupported_message
                records[i] = AlertRecord(source, rec + i - row, ids[i], cid, None, Status(st), messages[i])
            else:
                records[i] = AlertRecord(source, rec + i - row, ids[i], cid, None)
    keep = np.ones(n, dtype=bool)
    if failed_at:
        by_id = {id(e): e for e, *_ in plan.tasks}
        for key, index in failed_at.items():
            by_id[key].failed = True
        for t, (e, offset, skip, count, row, rec) in enumerate(plan.tasks):
            if id(e) in failed_at:
                for k in range(count):
                    if rec + k > failed_at[id(e)]:
                        keep[row + k] = False
        for e, row, index in plan.tails:
            if id(e) in failed_at:
                keep[row] = False
    for i in range(n):
        if records[i] is None:
            keep[i] = False  # AVRO_ROW_UNUSED
    if keep.all():
        return Batch(records, triplets, metadata, status, messages, info)  # type: ignore[arg-type]
    idx = np.flatnonzero(keep)
    return Batch([records[i] for i in idx], triplets[idx], metadata[idx], status[idx],  # type: ignore[misc]
                 [messages[i] for i in idx], info[idx])


def native_batches(buffers: Iterable[tuple[str, Any]], batch_size: int, threads: int = 0,
                   limits: dict[str, int] | None = None) -> Iterator[Batch]:
    """Preprocessed batches of at most ``batch_size`` rows from ``(source, bytes | Exception)`` buffers
    (``io.iter_buffers`` output, or Kafka message values with made-up sources), in input order."""
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    if not native_available():  # an extension built without csrc/avro: the fastavro path, same rows
        yield from batches((rec for source, data in buffers for rec in records_from_buffer(source, data)),
                           batch_size, "native", threads)
        return
    lim = dict(DEFAULT_LIMITS, **(limits or {}))
    it = iter(buffers)
    queue: deque[_Entry] = deque()
    exhausted = False
    while True:
        while not exhausted and sum(e.pending for e in queue) < batch_size:
            chunk = list(itertools.islice(it, max(1, batch_size)))
            if not chunk:
                exhausted = True
                break
            queue.extend(_scan(chunk, lim))
        if not queue:
            return
        plan = _plan(queue, batch_size)
        if plan.rows == 0:
            continue
        batch = _run(plan, threads, lim)
        # a buffer that failed part-way has nothing more to give
        if any(e.failed for e in queue):
            queue = deque(e for e in queue if not e.failed)
        if len(batch):
            yield batch


__all__ = ["DEFAULT_LIMITS", "native_available", "native_batches", "snappy_compiled_in"]
