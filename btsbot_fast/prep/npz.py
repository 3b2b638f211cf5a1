"""Preprocessed batches -> an ``.npz`` written as the batches come (what ``btsbot-fast preprocess`` writes).

The triplets (47 KB per alert, nearly all of the file) are streamed into the archive batch by batch, so a
night never has to fit in memory and no array is concatenated or copied: each batch's rows are written
from the batch's own array, and their CRC-32 is computed natively with the GIL released. The smaller
per-alert columns are collected and written at the end. The file is written under a temporary name and
renamed when complete.

Why not ``np.savez``: it needs every array whole before it starts. The container is a plain ZIP64 archive
of ``.npy`` members (stored, not compressed), exactly what ``np.load`` reads; the streamed member's
``.npy`` header is written with room for the final row count and patched at the end.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .. import _core
from ..status import status_label
from .batch import Batch
from .variant import FEATURE_NAMES, STAMP_SIZE

_DOS_TIME, _DOS_DATE = 0, (1980 - 1980) << 9 | 1 << 5 | 1  # 1980-01-01 00:00 (reproducible files)
_ZIP64 = 0xFFFFFFFF


def _npy_header(dtype: np.dtype, shape: tuple[int, ...], count_width: int = 0) -> bytes:
    """A version 1.0 ``.npy`` header; with ``count_width`` the first dimension is right-aligned in that
    many characters (so that it can be rewritten in place)."""
    dims = [f"{shape[0]:>{count_width}d}" if count_width else str(shape[0])] + [str(d) for d in shape[1:]]
    text = "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"
    d = f"{{'descr': {np.lib.format.dtype_to_descr(np.dtype(dtype))!r}, 'fortran_order': False, 'shape': {text}, }}"
    total = 10 + len(d) + 1
    pad = -total % 64
    body = (d + " " * pad + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body


class _ZipWriter:
    """A minimal ZIP64 writer of stored members; one member may be streamed (open_stream / close_stream)."""

    def __init__(self, fh):
        self.fh = fh
        self.entries: list[tuple[bytes, int, int, int]] = []  # name, crc, size, offset

    def _local_header(self, name: bytes, crc: int, size: int) -> bytes:
        extra = struct.pack("<HHQQ", 1, 16, size, size)
        return struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, _DOS_TIME, _DOS_DATE, crc, _ZIP64, _ZIP64,
                           len(name), len(extra)) + name + extra

    def add(self, name: str, data: bytes | memoryview) -> None:
        raw = name.encode()
        offset = self.fh.tell()
        mv = memoryview(data).cast("B")
        crc = _core.crc32(mv)
        self.fh.write(self._local_header(raw, crc, mv.nbytes))
        self.fh.write(mv)
        self.entries.append((raw, crc, mv.nbytes, offset))

    def open_stream(self, name: str) -> None:
        self._stream = (name.encode(), self.fh.tell())
        self.fh.write(self._local_header(self._stream[0], 0, 0))
        self._data_start = self.fh.tell()

    def close_stream(self, crc: int) -> None:
        raw, offset = self._stream
        end = self.fh.tell()
        size = end - self._data_start
        self.fh.seek(offset)
        self.fh.write(self._local_header(raw, crc, size))
        self.fh.seek(end)
        self.entries.append((raw, crc, size, offset))

    def finish(self) -> None:
        cd_start = self.fh.tell()
        for raw, crc, size, offset in self.entries:
            extra = struct.pack("<HHQQQ", 1, 24, size, size, offset)
            self.fh.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, _DOS_TIME, _DOS_DATE, crc,
                                      _ZIP64, _ZIP64, len(raw), len(extra), 0, 0, 0, 0, _ZIP64) + raw + extra)
        cd_end = self.fh.tell()
        n = len(self.entries)
        self.fh.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, n, n, cd_end - cd_start, cd_start))
        self.fh.write(struct.pack("<IIQI", 0x07064B50, 0, cd_end, 1))
        self.fh.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, _ZIP64, _ZIP64, 0))


class NpzWriter:
    """Write preprocessed batches to ``path`` (module docstring). Use as a context manager; ``write``
    each batch; the file appears (renamed into place) on a clean exit."""

    _COUNT_WIDTH = 20

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.rows = 0
        self.ok = 0

    def __enter__(self) -> NpzWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.name + ".tmp.npz")
        self._fh = open(self._tmp, "wb")
        self._zip = _ZipWriter(self._fh)
        self._zip.open_stream("triplets.npy")
        self._header = _npy_header(np.float32, (0, STAMP_SIZE, STAMP_SIZE, 3), self._COUNT_WIDTH)
        self._fh.write(self._header)
        self._crc = 0
        self._data_bytes = 0
        self._columns: dict[str, list] = {k: [] for k in
                                          ("metadata", "candid", "objectId", "jd", "status", "message", "source")}
        return self

    def write(self, batch: Batch) -> None:
        n = len(batch)
        if not n:
            return
        trip = np.ascontiguousarray(batch.triplets, dtype=np.float32)
        view = memoryview(trip).cast("B")
        self._crc = _core.crc32(view, self._crc)
        self._fh.write(view)
        self._data_bytes += view.nbytes
        c = self._columns
        c["metadata"].append(np.ascontiguousarray(batch.metadata, dtype=np.float32))
        c["jd"].append(np.asarray(batch.jd, dtype=np.float64))
        c["status"].append(np.asarray(batch.status, dtype=np.uint8))
        candid, oid, source = batch.row_ids()
        c["candid"].extend(candid)
        c["objectId"].extend(oid)
        c["source"].extend(source)
        c["message"].extend(batch.messages)
        self.rows += n
        self.ok += int(np.count_nonzero(batch.status == 0))

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._finish()
        finally:
            self._fh.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
            else:
                self._tmp.unlink(missing_ok=True)

    def _finish(self) -> None:
        header = _npy_header(np.float32, (self.rows, STAMP_SIZE, STAMP_SIZE, 3), self._COUNT_WIDTH)
        assert len(header) == len(self._header)
        end = self._fh.tell()
        self._fh.seek(self._zip._data_start)
        self._fh.write(header)
        self._fh.seek(end)
        crc = zlib.crc32(header)
        crc = _core.crc32_combine(crc, self._crc, self._data_bytes)
        self._zip.close_stream(crc)
        c = self._columns

        def cat(parts, empty):
            return np.concatenate(parts) if parts else empty

        status = cat(c["status"], np.zeros(0, np.uint8))
        arrays = {
            "metadata": cat(c["metadata"], np.zeros((0, len(FEATURE_NAMES)), np.float32)),
            "feature_names": np.array(FEATURE_NAMES),
            "candid": np.array(c["candid"], dtype=np.int64),
            "objectId": np.array(c["objectId"], dtype=str),
            "jd": cat(c["jd"], np.zeros(0)),
            "status": status,
            "status_label": np.array([status_label(s) for s in status.tolist()], dtype=str),
            "message": np.array(c["message"], dtype=str),
            "source": np.array(c["source"], dtype=str),
        }
        for name, arr in arrays.items():
            arr = np.ascontiguousarray(arr)
            self._zip.add(f"{name}.npy", _npy_header(arr.dtype, arr.shape) + arr.tobytes())
        self._zip.finish()


def write_npz(batches: Iterable[Batch], path: str | os.PathLike[str]) -> tuple[int, int]:
    """Write every batch to ``path``; returns (rows, ok rows)."""
    with NpzWriter(path) as w:
        for batch in batches:
            w.write(batch)
    return w.rows, w.ok


__all__ = ["NpzWriter", "write_npz"]
