"""Typed stub of the C++ extension ``btsbot_fast._core`` (csrc/bindings.cpp)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

STAMP_SIZE: int  # 63
N_FEATURES: int  # 25
N_CANDIDATE_COLUMNS: int  # len(prep.variant.CANDIDATE_COLUMNS)
inflater: str  # "zlib" or "libdeflate": the gzip inflater selected at build time

def decode_stamp(data: bytes) -> npt.NDArray[np.float32]:
    """gunzip + lenient FITS parse of one stampData -> (NAXIS2, NAXIS1) float32, stored row order,
    BSCALE/BZERO applied, before the NaN/inf rule. Raises ValueError naming the reason."""

def normalise_channel(image: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """NaN/inf rule, float32-rounded L2 norm, bottom/right 1e-9 padding -> (63, 63) float32.
    Raises ValueError for an empty (all-zero) channel or a stamp larger than 63."""

def prepare_triplets(
    science: Sequence[bytes | None],
    template: Sequence[bytes | None],
    difference: Sequence[bytes | None],
    out: npt.NDArray[np.float32],  # (N, 63, 63, 3), C-contiguous, filled in place
    n_threads: int = 0,  # 0 = hardware concurrency
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """Cutouts of N alerts -> triplets; per-alert status codes (btsbot_fast.Status) and messages
    ('' when ok). Releases the GIL; never raises for a bad alert."""

def compute_features(
    candidate: npt.NDArray[np.float64],  # (N, N_CANDIDATE_COLUMNS), NaN = null
    hist_offsets: npt.NDArray[np.int64],  # (N + 1,), history of alert i = [off[i], off[i+1])
    hist_jd: npt.NDArray[np.float64],  # (M,)
    hist_magpsf: npt.NDArray[np.float64],  # (M,), NaN = non-detection (null magpsf)
    out: npt.NDArray[np.float32],  # (N, 25), filled in place
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """The 25 btsbot-v1 features; status MISSING_FIELD with the field named for a null required field."""

def preprocess(
    science: Sequence[bytes | None],
    template: Sequence[bytes | None],
    difference: Sequence[bytes | None],
    candidate: npt.NDArray[np.float64],
    hist_offsets: npt.NDArray[np.int64],
    hist_jd: npt.NDArray[np.float64],
    hist_magpsf: npt.NDArray[np.float64],
    triplets_out: npt.NDArray[np.float32],
    metadata_out: npt.NDArray[np.float32],
    n_threads: int = 0,
) -> tuple[npt.NDArray[np.uint8], list[str]]:
    """prepare_triplets + compute_features in one threaded, GIL-free pass; first failure wins."""

# --- native Avro reader (csrc/avro; btsbot_fast/prep/native_avro.py drives it) ----------------------
avro_snappy: bool  # built with libsnappy (else snappy files fall back to fastavro)
AVRO_PROGRAM_MAGIC: int  # btsbot_fast.io.schema_program.PROGRAM_MAGIC
AVRO_PROGRAM_VERSION: int
AVRO_ROW_UNUSED: int  # status of a row after a failure in the same task (the caller drops it)

def scan_ocf(
    buffers: Sequence[bytes | bytearray | memoryview],
    max_block_bytes: int = ...,
    max_block_records: int = ...,
    max_depth: int = ...,
    max_items: int = ...,
) -> tuple[list[bytes], npt.NDArray[np.int64], npt.NDArray[np.int64], list[str]]:
    """Header + block framing of Avro OCF buffers (sync-verified, no decompression; zero-count blocks are
    decompressed to check them). Returns (distinct schema texts, info (N, 5) = schema index or -1, codec
    (0 null, 1 deflate, 2 snappy, 3 snappy not compiled in, 4 unknown), state (0 ok, 1 header error,
    2 error after n_records, 3 codec not native), n_records, n_blocks; blocks (B, 2) = offset, record count
    of the blocks holding records, buffer after buffer; messages)."""

def decode_preprocess(
    buffers: Sequence[bytes | bytearray | memoryview],
    programs: Sequence[npt.NDArray[np.int64]],  # schema_program.compile_schema(...).words
    tasks: npt.NDArray[np.int64],  # (T, 7): buffer, program, block offset, skip, n_rows, row offset, first record
    triplets_out: npt.NDArray[np.float32],  # (N, 63, 63, 3)
    metadata_out: npt.NDArray[np.float32],  # (N, 25)
    candid_out: npt.NDArray[np.int64],  # (N,), valid where flags_out & 1
    info_out: npt.NDArray[np.float64],  # (N, 3): candidate jd, magpsf, fid (NaN when unknown)
    status_out: npt.NDArray[np.uint8],  # (N,), Status or AVRO_ROW_UNUSED
    flags_out: npt.NDArray[np.uint8],  # (N,)
    n_threads: int = 0,
    max_block_bytes: int = ...,
    max_block_records: int = ...,
    max_depth: int = ...,
    max_items: int = ...,
) -> tuple[list[str | None], list[str], npt.NDArray[np.int64]]:
    """Decode the tasks' records with their schema programs and preprocess them into the output rows
    (native threads, GIL released). Returns (objectIds, messages, task_errors: record index of a task's
    failure or -1). Rows no task covers are left untouched."""
