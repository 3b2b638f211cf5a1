"""The pure-Python (NumPy + astropy) twin of the native preprocessing.

Written for clarity, not speed: it is the independent reference the native core is tested against, and
the ``--engine python`` choice. Every rule here is spec ../shared/spec/btsbot-v1.md sections 2 and 3.
"""

from __future__ import annotations

import io
import math
import warnings
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..status import Status
from .variant import CANDIDATE_COLUMNS, CUTOUT_FIELDS, FEATURE_NAMES, PAD_VALUE, STAMP_SIZE

FLOAT32_MAX = np.float32(3.4028235e38)

#: decompressed-size cap; a 63x63 float32 stamp is 20,160 bytes (protects against gzip bombs)
MAX_STAMP_BYTES = 1 << 16


class PreprocessError(Exception):
    """A per-alert failure: carries the status code and a message for the output row."""

    def __init__(self, status: Status, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _gunzip(data: bytes) -> bytes:
    try:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        out = d.decompress(data, MAX_STAMP_BYTES + 1)
    except zlib.error as exc:
        raise PreprocessError(Status.BAD_CUTOUT, f"bad gzip data: {exc}") from None
    if len(out) > MAX_STAMP_BYTES:
        raise PreprocessError(Status.BAD_CUTOUT, "decompressed stamp too large")
    if not d.eof:
        raise PreprocessError(Status.BAD_CUTOUT, "bad gzip data: truncated stream")
    return out


def decode_stamp(data: bytes) -> np.ndarray:
    """gunzip + FITS (astropy) -> float32 (NAXIS2, NAXIS1), stored row order, BSCALE/BZERO applied."""
    from astropy.io import fits  # the [reference] extra; prep.require_engine says so up front
    if data[:3] == b"\xff\xd8\xff":
        raise PreprocessError(Status.BAD_CUTOUT, "not a FITS file (JPEG)")
    if data[:6] == b"SIMPLE":
        raise PreprocessError(Status.BAD_CUTOUT, "not gzip-compressed (plain FITS)")
    if data[:2] != b"\x1f\x8b":
        raise PreprocessError(Status.BAD_CUTOUT, "not gzip data")
    raw = _gunzip(data)
    if raw[:3] == b"\xff\xd8\xff":
        raise PreprocessError(Status.BAD_CUTOUT, "not a FITS file (JPEG)")
    if not raw.startswith(b"SIMPLE"):
        raise PreprocessError(Status.BAD_CUTOUT, "not a FITS file (no SIMPLE card)")
    try:
        with warnings.catch_warnings():
            # ZTF's SIMPLE card is not in fixed format (spec section 2): expected, not worth a warning
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            with fits.open(io.BytesIO(raw), memmap=False, lazy_load_hdus=False) as hdul:
                header = hdul[0].header
                if header.get("BITPIX") != -32:
                    raise PreprocessError(Status.BAD_CUTOUT,
                                          f"unsupported FITS BITPIX {header.get('BITPIX')} (need -32, float32)")
                if header.get("NAXIS") != 2:
                    raise PreprocessError(Status.BAD_CUTOUT,
                                          f"unsupported FITS NAXIS {header.get('NAXIS')} (need a 2-D image)")
                data_array = hdul[0].data
    except PreprocessError:
        raise
    except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError, OverflowError, zlib.error) as exc:
        # what astropy raises for damaged files; an ImportError, MemoryError or a bug propagates
        raise PreprocessError(Status.BAD_CUTOUT, f"unreadable FITS: {exc}") from None
    if data_array is None:
        raise PreprocessError(Status.BAD_CUTOUT, "FITS file has no data")
    return np.asarray(data_array, dtype=np.float32)


def normalise_channel(image: np.ndarray) -> np.ndarray:
    """NaN/inf rule, L2 norm rounded to float32 (overflow -> inf -> zeros), bottom/right padding."""
    h, w = image.shape
    if h > STAMP_SIZE or w > STAMP_SIZE:
        raise PreprocessError(Status.BAD_CUTOUT, f"stamp larger than {STAMP_SIZE}x{STAMP_SIZE}: {h}x{w}")
    x = np.nan_to_num(image.astype(np.float32, copy=False))
    sum_sq = float(np.sum(np.square(x, dtype=np.float64)))
    if sum_sq == 0.0:
        raise PreprocessError(Status.EMPTY_CUTOUT, "empty cutout (all-zero channel)")
    with np.errstate(over="ignore"):
        norm = np.float32(math.sqrt(sum_sq))  # inf when beyond float32: production's overflow
        x = (x / norm).astype(np.float32)
    if h < STAMP_SIZE or w < STAMP_SIZE:
        x = np.pad(x, ((0, STAMP_SIZE - h), (0, STAMP_SIZE - w)), constant_values=np.float32(PAD_VALUE))
    return x


def triplet(stamps: Sequence[bytes | None], names: Sequence[str] = CUTOUT_FIELDS) -> np.ndarray:
    """Three stampData payloads -> (63, 63, 3) float32."""
    out = np.empty((STAMP_SIZE, STAMP_SIZE, 3), dtype=np.float32)
    for c, (data, name) in enumerate(zip(stamps, names)):
        if data is None:
            raise PreprocessError(Status.MISSING_CUTOUT, f"{name}: missing cutout")
        if not data:
            raise PreprocessError(Status.BAD_CUTOUT, f"{name}: empty stampData")
        try:
            out[:, :, c] = normalise_channel(decode_stamp(data))
        except PreprocessError as exc:
            raise PreprocessError(exc.status, f"{name}: {exc.message}") from None
    return out


def features(candidate: dict[str, Any], prv_candidates: Sequence[dict[str, Any] | None] | None) -> np.ndarray:
    """The 25 btsbot-v1 features (float32, FEATURE_NAMES order), computed in float64. Null vs NaN: the
    missing-data rule in variant.py (None is missing; NaN and inf are values, as in production)."""

    def need(name: str) -> float:
        value = candidate.get(name)
        if value is None:
            raise PreprocessError(Status.MISSING_FIELD, f"missing field: candidate.{name}")
        return float(value)

    drb = candidate.get("drb")
    if drb is None:
        drb = candidate.get("rb")
        if drb is None:
            raise PreprocessError(Status.MISSING_FIELD, "missing field: candidate.drb (and candidate.rb)")
    direct = {name: need(name) for name in FEATURE_NAMES if name in CANDIDATE_COLUMNS and name != "drb"}
    jd = need("jd")
    jdstarthist = need("jdstarthist")

    # history: detections (non-null magpsf; a null item is none) in packet order, then the candidate itself
    detections = [p for p in (prv_candidates or []) if isinstance(p, dict) and p.get("magpsf") is not None]
    for i, p in enumerate(detections):
        if p.get("jd") is None:
            raise PreprocessError(Status.MISSING_FIELD, f"missing field: prv_candidates.jd (entry {i})")
    history = [(float(p["jd"]), float(p["magpsf"])) for p in detections]
    history.append((jd, direct["magpsf"]))
    peak_mag, peak_jd, max_mag = 30.0, jd, 0.0
    for h_jd, h_mag in history:
        if h_mag < peak_mag:
            peak_mag, peak_jd = h_mag, h_jd
        if h_mag > max_mag:
            max_mag = h_mag
    # production's expression, Python's min (a NaN never replaces the running value; a NaN first one stays)
    first_jd = min(jdstarthist, min([jd] + [h_jd for h_jd, _ in history[:-1]]))
    derived = {
        "age": jd - first_jd,
        "days_since_peak": jd - peak_jd,
        "days_to_peak": peak_jd - first_jd,
        "peakmag_so_far": peak_mag,
        "maxmag_so_far": max_mag,
        "nnotdet": direct["ncovhist"] - direct["ndethist"],
        "drb": float(drb),
    }
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array([derived[n] if n in derived else direct[n] for n in FEATURE_NAMES],
                        dtype=np.float64).astype(np.float32)


def preprocess_record(record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """One decoded alert record -> (triplet (63,63,3), features (25,)); raises PreprocessError.
    Failure order (shared with the native core): no candidate record, then cutouts science, template,
    difference, then the features."""
    candidate = record.get("candidate")
    if not isinstance(candidate, dict):
        raise PreprocessError(Status.MISSING_FIELD, "missing field: candidate")
    stamps = []
    for field in CUTOUT_FIELDS:
        cutout = record.get(field)
        stamps.append(cutout.get("stampData") if isinstance(cutout, dict) else None)
    return triplet(stamps), features(candidate, record.get("prv_candidates"))
