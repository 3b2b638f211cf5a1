"""The unit everything downstream consumes: a :class:`Batch` of preprocessed alerts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..io.records import AlertRecord
from ..status import Status
from .bts import NO_CANDIDATE
from .variant import FEATURE_NAMES, ROW_INFO, STAMP_SIZE


@dataclass
class Batch:
    """Preprocessed alerts, one row per input record (failed rows hold zeros)."""

    records: list[AlertRecord]
    triplets: np.ndarray  # (N, 63, 63, 3) float32
    metadata: np.ndarray  # (N, 25) float32, FEATURE_NAMES order
    status: np.ndarray  # (N,) uint8, Status codes
    messages: list[str]
    #: (N, len(ROW_INFO)) float64: the candidate's ROW_INFO values (NaN when null or unknown), also for
    #: rows that failed preprocessing
    info: np.ndarray = field(default_factory=lambda: np.empty((0, len(ROW_INFO))))
    #: (N,) uint16: the BTS candidate filter's verdict codes (prep/bts.py), for every row
    bts: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint16))

    def __len__(self) -> int:
        return len(self.records)

    @property
    def jd(self) -> np.ndarray:
        return self.info[:, ROW_INFO.index("jd")]

    @property
    def magpsf(self) -> np.ndarray:
        return self.info[:, ROW_INFO.index("magpsf")]

    @property
    def fid(self) -> np.ndarray:
        return self.info[:, ROW_INFO.index("fid")]

    @property
    def ok(self) -> np.ndarray:
        return self.status == Status.OK

    def row_ids(self) -> tuple[list[int], list[str], list[str]]:
        """Per row: candid (-1 when unknown), objectId ('' when unknown) and source, as the .npz columns
        (and ``prep.Preprocessed``) hold them."""
        recs = self.records
        return ([-1 if r.candid is None else r.candid for r in recs], [r.objectId or "" for r in recs],
                [r.source for r in recs])


def empty_arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Output arrays for ``n`` rows: triplets, metadata, status, info (NaN), bts (no candidate)."""
    return (np.empty((n, STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32),
            np.empty((n, len(FEATURE_NAMES)), dtype=np.float32),
            np.zeros(n, dtype=np.uint8),
            np.full((n, len(ROW_INFO)), np.nan, dtype=np.float64),
            np.full(n, NO_CANDIDATE, dtype=np.uint16))


__all__ = ["Batch", "empty_arrays"]
