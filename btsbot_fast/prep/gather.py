"""Decoded records (dicts, as fastavro and the Parquet row reader give them) -> the native core's
column inputs. The native readers (csrc/avro, prep/arrow.py) fill the same columns without dicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..io.records import AlertRecord
from .bts import PRV_FIELDS
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, ISDIFFPOS_COLUMN, POSITIVE_ISDIFFPOS, ROW_INFO

RECORD_BIT = _core.CANDIDATE_RECORD_BIT
HIST_ITEM, HIST_JD, HIST_MAG = _core.HIST_ITEM, _core.HIST_JD, _core.HIST_MAG
HIST_POSITIVE, HIST_FID = _core.HIST_POSITIVE, _core.HIST_FID
#: `present` bit of "a non-null prv_candidates item has no field PRV_FIELDS[j]": PRV_LACKS_BIT << j
PRV_LACKS_BIT = 1 << _core.PRV_LACKS_SHIFT


@dataclass
class Columns:
    """What ``_core.preprocess`` takes for N alerts (the missing-data rule: variant.py)."""

    stamps: tuple[list, list, list]  # per channel: bytes or None
    candidate: np.ndarray  # (N, len(CANDIDATE_COLUMNS)) float64; a null value's slot is NaN
    present: np.ndarray  # (N,) uint64: bit k = column k not null; RECORD_BIT = the candidate record is there;
    #                       PRV_LACKS_BIT << j: an item lacks PRV_FIELDS[j]
    hist_offsets: np.ndarray  # (N + 1,) int64
    hist_jd: np.ndarray  # (M,) float64
    hist_magpsf: np.ndarray  # (M,) float64
    hist_fid: np.ndarray  # (M,) float64
    hist_flags: np.ndarray  # (M,) uint8: HIST_ITEM | HIST_JD | HIST_MAG | HIST_FID for the fields that are not
    #                         null, HIST_POSITIVE for isdiffpos 't'/'1'

    def core_args(self) -> tuple:
        return (*self.stamps, self.candidate, self.present, self.hist_offsets, self.hist_jd, self.hist_magpsf,
                self.hist_fid, self.hist_flags)


def columns_from_records(records: Sequence[AlertRecord]) -> Columns:
    """Columns of decoded records; rows without a record (already failed) get an absent candidate."""
    n = len(records)
    stamps: tuple[list, list, list] = ([None] * n, [None] * n, [None] * n)
    candidate = np.full((n, len(CANDIDATE_COLUMNS)), np.nan)
    present = np.zeros(n, dtype=np.uint64)
    offsets = np.zeros(n + 1, dtype=np.int64)
    jd: list[float] = []
    mag: list[float] = []
    fid: list[float] = []
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
                        row[k] = (v in POSITIVE_ISDIFFPOS) if col == ISDIFFPOS_COLUMN else v
                        mask |= 1 << k
                present[i] = mask
            for p in r.get("prv_candidates") or ():
                if not isinstance(p, dict):
                    continue  # a null item: never part of the history
                for j, name in enumerate(PRV_FIELDS):
                    if name not in p:
                        present[i] |= np.uint64(PRV_LACKS_BIT << j)
                if p.get("magpsf") is None:
                    continue  # a non-detection: never part of the history
                pjd, pfid = p.get("jd"), p.get("fid")
                jd.append(nan if pjd is None else pjd)
                mag.append(p["magpsf"])
                fid.append(nan if pfid is None else pfid)
                flags.append(HIST_ITEM | HIST_MAG | (0 if pjd is None else HIST_JD) | (0 if pfid is None else HIST_FID)
                             | (HIST_POSITIVE if p.get("isdiffpos") in POSITIVE_ISDIFFPOS else 0))
        offsets[i + 1] = len(jd)
    return Columns(stamps, candidate, present, offsets, np.asarray(jd, dtype=np.float64),
                   np.asarray(mag, dtype=np.float64), np.asarray(fid, dtype=np.float64),
                   np.asarray(flags, dtype=np.uint8))


def row_info(candidate: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``Batch.info`` (N, len(ROW_INFO)) float64 from the candidate columns handed to the core: the value
    where it is not null, else NaN (also for rows without a candidate)."""
    info = np.empty((len(present), len(ROW_INFO)), dtype=np.float64)
    for c, name in enumerate(ROW_INFO):
        k = CANDIDATE_COLUMNS.index(name)
        info[:, c] = np.where(present & np.uint64(1 << k), candidate[:, k], np.nan)
    return info


__all__ = ["Columns", "HIST_FID", "HIST_ITEM", "HIST_JD", "HIST_MAG", "HIST_POSITIVE", "PRV_LACKS_BIT", "RECORD_BIT",
           "columns_from_records", "row_info"]
