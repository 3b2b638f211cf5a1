"""Decoded records (dicts, as fastavro and the Parquet row reader give them) -> the native core's
column inputs. The native readers (csrc/avro, prep/arrow.py) fill the same columns without dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..io.records import AlertRecord
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, ROW_INFO

RECORD_BIT = _core.CANDIDATE_RECORD_BIT
HIST_ITEM, HIST_JD, HIST_MAG = _core.HIST_ITEM, _core.HIST_JD, _core.HIST_MAG


@dataclass
class Columns:
    """What ``_core.preprocess`` takes for N alerts (the missing-data rule: variant.py)."""

    stamps: tuple[list, list, list]  # per channel: bytes or None
    candidate: np.ndarray  # (N, len(CANDIDATE_COLUMNS)) float64; a null value's slot is NaN
    present: np.ndarray  # (N,) uint32: bit k = column k not null; RECORD_BIT = the candidate record is there
    hist_offsets: np.ndarray  # (N + 1,) int64
    hist_jd: np.ndarray  # (M,) float64
    hist_magpsf: np.ndarray  # (M,) float64
    hist_flags: np.ndarray  # (M,) uint8: HIST_ITEM | HIST_JD | HIST_MAG for the fields that are not null

    def core_args(self) -> tuple:
        return (*self.stamps, self.candidate, self.present, self.hist_offsets, self.hist_jd, self.hist_magpsf,
                self.hist_flags)


def columns_from_records(records: Sequence[AlertRecord]) -> Columns:
    """Columns of decoded records; rows without a record (already failed) get an absent candidate."""
    n = len(records)
    stamps: tuple[list, list, list] = ([None] * n, [None] * n, [None] * n)
    candidate = np.full((n, len(CANDIDATE_COLUMNS)), np.nan)
    present = np.zeros(n, dtype=np.uint32)
    offsets = np.zeros(n + 1, dtype=np.int64)
    jd: list[float] = []
    mag: list[float] = []
    flags: list[int] = []
    nan = float("nan")
    for i, rec in enumerate(records):
        r = rec.record
        if isinstance(r, dict):
            for c, name in enumerate(CUTOUT_FIELDS):
                cutout = r.get(name)
                if isinstance(cutout, dict):
                    stamps[c][i] = cutout.get("stampData")
            cand = r.get("candidate")
            if isinstance(cand, dict):
                mask = RECORD_BIT
                row = candidate[i]
                for k, col in enumerate(CANDIDATE_COLUMNS):
                    v = cand.get(col)
                    if v is not None:
                        row[k] = v
                        mask |= 1 << k
                present[i] = mask
            for p in r.get("prv_candidates") or ():
                if not isinstance(p, dict) or p.get("magpsf") is None:
                    continue  # a null item or a non-detection: never part of the history
                pjd = p.get("jd")
                jd.append(nan if pjd is None else pjd)
                mag.append(p["magpsf"])
                flags.append(HIST_ITEM | HIST_MAG | (0 if pjd is None else HIST_JD))
        offsets[i + 1] = len(jd)
    return Columns(stamps, candidate, present, offsets, np.asarray(jd, dtype=np.float64),
                   np.asarray(mag, dtype=np.float64), np.asarray(flags, dtype=np.uint8))


def row_info(candidate: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``Batch.info`` (N, len(ROW_INFO)) float64 from the candidate columns handed to the core: the value
    where it is not null, else NaN (also for rows without a candidate)."""
    info = np.empty((len(present), len(ROW_INFO)), dtype=np.float64)
    for c, name in enumerate(ROW_INFO):
        k = CANDIDATE_COLUMNS.index(name)
        info[:, c] = np.where(present & np.uint32(1 << k), candidate[:, k], np.nan)
    return info


__all__ = ["Columns", "HIST_ITEM", "HIST_JD", "HIST_MAG", "RECORD_BIT", "columns_from_records", "row_info"]
