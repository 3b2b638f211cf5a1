"""Typed stub of the C++ extension ``btsbot_fast._core`` (csrc/module.cpp, csrc/register_*.cpp).

The module is private: btsbot_fast/prep drives it. ``_core._testing`` (per-stage hooks for tests and
benchmarks) is not an API; it is a submodule, typed here as a class of static functions.
Every name the extension exposes is here, and nothing else but the ``TypeAlias`` helpers:
tests/test_core_stub.py compares the two.
"""

import os
from collections.abc import Iterator, Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

#: a file-system name: str, bytes or os.PathLike (passed through os.fsencode)
FsPath: TypeAlias = str | bytes | os.PathLike[str] | os.PathLike[bytes]

STAMP_SIZE: int  # 63
N_FEATURES: int  # 25
N_CANDIDATE_COLUMNS: int  # len(prep.variant.CANDIDATE_COLUMNS)
CANDIDATE_COLUMNS: tuple[str, ...]  # the candidate matrix's column order (prep.variant.CANDIDATE_COLUMNS)
CANDIDATE_RECORD_BIT: int  # `present` (uint64) bit: the candidate record is there (csrc/features.hpp)
PRV_LACKS_SHIFT: int  # `present` bit PRV_LACKS_SHIFT + j: a history item lacks prep.bts.PRV_FIELDS[j]
HIST_ITEM: int  # history item flags: the item, its jd, its magpsf, its fid are not null; isdiffpos 't'/'1'
HIST_JD: int
HIST_MAG: int
HIST_FID: int
HIST_POSITIVE: int
BTS_CRITERIA: tuple[str, ...]  # prep.bts.CRITERIA: bit k of a verdict = criterion k failed
BTS_FIELDS: tuple[str, ...]  # prep.bts.FIELDS: what an unknown verdict (BTS_UNKNOWN | index) names
BTS_UNKNOWN: int
inflater: str  # "libdeflate <version> (vendored)"
avro_snappy: bool  # built with libsnappy (else snappy files are read by fastavro)
AVRO_PROGRAM_MAGIC: int  # btsbot_fast.prep.schema_program.PROGRAM_MAGIC
AVRO_PROGRAM_VERSION: int

# one channel of stamps: bytes/None per alert, or an Arrow binary column's (offsets int64[N+1], values
# uint8, valid uint8[N]) views
Stamps: TypeAlias = Sequence[bytes | None] | tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]

def preprocess(
    science: Stamps,
    template: Stamps,
    difference: Stamps,
    candidate: npt.NDArray[np.float64],  # (N, N_CANDIDATE_COLUMNS)
    present: npt.NDArray[np.uint64],  # (N,): bit k = column k not null; CANDIDATE_RECORD_BIT; PRV_LACKS bits
    hist_offsets: npt.NDArray[np.int64],  # (N + 1,): alert i owns items [off[i], off[i+1])
    hist_jd: npt.NDArray[np.float64],  # (M,)
    hist_magpsf: npt.NDArray[np.float64],  # (M,)
    hist_fid: npt.NDArray[np.float64],  # (M,)
    hist_flags: npt.NDArray[np.uint8],  # (M,): HIST_ITEM | HIST_JD | HIST_MAG | HIST_FID | HIST_POSITIVE
    triplets_out: npt.NDArray[np.float32],  # (N, 63, 63, 3)
    metadata_out: npt.NDArray[np.float32],  # (N, 25)
    bts_out: npt.NDArray[np.uint16],  # (N,): BTS filter verdicts (prep.bts)
    n_threads: int = 0,
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """Cutouts + features + BTS verdicts of N alerts on the thread pool, GIL released; (status,
    messages). Failed rows are zero-filled; every row gets its verdict."""

class Reader:
    """The native alert reader (csrc/avro/reader.hpp): inputs in, batches of rows out."""

    def __init__(self, max_block_bytes: int = ..., max_block_records: int = ..., max_depth: int = ...,
                 max_items: int = ..., max_inflight_bytes: int = ..., map_threshold: int = ...,
                 archive_read_ahead: int = ...) -> None: ...
    def add_buffers(self, names: Sequence[FsPath], buffers: Sequence[bytes | bytearray | memoryview]) -> None: ...
    def add_files(self, names: Sequence[FsPath], paths: Sequence[FsPath]) -> None: ...
    def add_archive(self, name: FsPath, path: FsPath) -> None: ...
    def add_error(self, name: FsPath, detail: str) -> None: ...
    def set_program(self, schema: bytes, words: npt.NDArray[np.int64] | None, schema_name: str) -> None: ...
    def next_batch(
        self,
        triplets: npt.NDArray[np.float32],  # (C, 63, 63, 3): C = the batch capacity
        metadata: npt.NDArray[np.float32],  # (C, 25)
        candid: npt.NDArray[np.int64],  # (C,) valid where flags & 1
        info: npt.NDArray[np.float64],  # (C, 3): candidate jd, magpsf, fid (NaN: null)
        bts: npt.NDArray[np.uint16],  # (C,): BTS filter verdicts (prep.bts)
        status: npt.NDArray[np.uint8],
        reason: npt.NDArray[np.uint8],  # RowReason: 0 none, 1 corrupt, 2 not a record, 3 foreign, 4 read error
        flags: npt.NDArray[np.uint8],
        record_index: npt.NDArray[np.int64],
        source: npt.NDArray[np.int32],  # index into the returned source names
        n_threads: int = 0,
    ) -> tuple[int, str, list[str], list[str], list[str | None], list[bytes], tuple[str, bytes] | None]:
        """(rows, stop: "full" | "end" | "need_schemas" | "fallback", source names, messages (or reason
        details), objectIds, schema texts to compile, the fallback source (name, bytes))."""
    @property
    def pending(self) -> int: ...
    @property
    def bytes_held(self) -> int: ...
    @property
    def peak_bytes_held(self) -> int: ...
    @property
    def max_inflight_bytes(self) -> int: ...

class ArchiveMembers(Iterator[tuple[str, bytes | None, str]]):
    """Alert members of a tar(.gz) archive: (name "archive::member", bytes or None, error)."""

    def __init__(self, name: FsPath, path: FsPath) -> None: ...
    def __iter__(self) -> ArchiveMembers: ...
    def __next__(self) -> tuple[str, bytes | None, str]: ...

def crc32(data: bytes | bytearray | memoryview | npt.NDArray[np.generic], crc: int = 0) -> int:
    """CRC-32 of a contiguous buffer (zlib.crc32's), continuing from ``crc``; GIL released."""
def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """The CRC-32 of A + B from crc32(A), crc32(B) and len(B) (zlib's crc32_combine)."""
def native_cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds the calling thread spent in GIL-free native calls (GIL accounting)."""
def available_cores() -> int:
    """Cores this process may run on (sched affinity)."""

class _testing:
    """The ``_core._testing`` submodule: per-stage hooks for tests and benchmarks (not an API)."""

    @staticmethod
    def decode_stamp(data: bytes) -> npt.NDArray[np.float32]:
        """One stamp (gzip'd FITS) decoded to its (height, width) image; ValueError says why it cannot be."""
    @staticmethod
    def normalise_channel(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One channel's (63, 63) model input from a decoded 2-D image (ValueError: unusable)."""
    @staticmethod
    def prepare_triplets(
        science: Stamps, template: Stamps, difference: Stamps,
        out: npt.NDArray[np.float32],  # (N, 63, 63, 3)
        n_threads: int = 0,
    ) -> tuple[npt.NDArray[np.uint8], list[str]]:
        """The cutouts alone of N alerts (status, messages), as preprocess() makes them."""
    @staticmethod
    def compute_features(
        candidate: npt.NDArray[np.float64], present: npt.NDArray[np.uint64], hist_offsets: npt.NDArray[np.int64],
        hist_jd: npt.NDArray[np.float64], hist_magpsf: npt.NDArray[np.float64], hist_fid: npt.NDArray[np.float64],
        hist_flags: npt.NDArray[np.uint8],
        out: npt.NDArray[np.float32],  # (N, 25)
    ) -> tuple[npt.NDArray[np.uint8], list[str]]:
        """The 25 features alone of N alerts (status, messages), as preprocess() computes them."""
    @staticmethod
    def galactic_latitude(ra: float, dec: float) -> float:
        """Galactic latitude (deg) of ICRS (ra, dec) in degrees, as the BTS filter computes it."""
    @staticmethod
    def gunzip(data: bytes) -> bytes:
        """One stamp's gzip, inflated by the build's inflater (benchmarks)."""
    @staticmethod
    def load_program(words: npt.NDArray[np.int64]) -> None:
        """Loads a compiled schema program and drops it; ValueError says what is wrong with it."""
    @staticmethod
    def tar_members(path: FsPath) -> list[tuple[str, str, str, int]]:
        """Every entry of a tar(.gz) file: (name, type flag, link name, size)."""
    @staticmethod
    def pool_threads() -> int:
        """Worker threads the native thread pool has started so far."""
