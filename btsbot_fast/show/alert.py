"""One alert as BTSbot saw it: the data ``show`` draws, gathered without any plotting.

An :class:`AlertView` holds the decoded record, the model inputs exactly as the project's preprocessing
made them (:func:`btsbot_fast.prep.preprocess_records`, the engine the Scorer uses), the Scorer's result,
the raw cutouts (for the scanner's view) and the light curve from ``prv_candidates``. The occlusion
saliency (:func:`occlusion`) masks patches of the model's own inputs and scores them with the Scorer's
ONNX Runtime session: no TensorFlow.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import read_alerts, records_from_buffer
from ..io.paths import archive_buffers
from ..io.records import AlertRecord
from ..prep import preprocess_records
from ..prep.variant import CUTOUT_FIELDS, FEATURE_NAMES, STAMP_SIZE

if TYPE_CHECKING:
    from ..scorer import Scorer, ScoreResult

#: ZTF filter ids -> band names (and the colours the figures use)
FILTERS = {1: "g", 2: "r", 3: "i"}
CHANNELS = ("science", "template", "difference")
#: occlusion defaults: 9x9 patches tile the 63x63 stamp exactly (7 x 7 per channel, 147 model runs)
OCCLUSION_PATCH = 9
#: what a masked patch is filled with, in the words the figure prints
OCCLUSION_FILL = "channel median"

MEMBER_SEPARATOR = "::"
#: below this largest score change the occlusion map is called faint (a near-certain score: see Occlusion.note)
FAINT_OCCLUSION = 0.01


def score_text(score: float) -> str:
    """A score as every picture and page prints it: 4 decimals; 6 near 1, where a night's best sources
    differ (0.999684 and 0.999690 are both 0.9997 at 4); 3 significant digits below 0.001."""
    if 0 < score < 0.001:
        return f"{score:.3g}"
    return f"{score:.6f}" if score >= 0.999 else f"{score:.4f}"


class AlertNotFound(LookupError):
    """No record matches (the message says what was searched and what was found)."""


@dataclass
class LightCurvePoint:
    jd: float
    fid: int | None
    magpsf: float | None  # None: an upper limit (non-detection)
    sigmapsf: float | None
    diffmaglim: float | None
    is_alert: bool = False


@dataclass
class Occlusion:
    """Score drop (base score - score with the patch masked) per channel and patch: ``drop`` has shape
    (3, ny, nx); patch (i, j) covers rows ``i*patch:(i+1)*patch`` and columns ``j*patch:(j+1)*patch``."""

    base: float
    drop: np.ndarray
    patch: int
    fill: str = OCCLUSION_FILL

    @property
    def largest(self) -> float:
        """The largest change of the score that masking one patch makes (either way)."""
        return float(np.abs(self.drop).max()) if self.drop.size else 0.0

    @property
    def method(self) -> str:
        return (f"occlusion: each {self.patch}x{self.patch} px patch of one channel in turn replaced by the "
                f"{self.fill} and scored with the ONNX model; colour = the alert's score {score_text(self.base)} "
                "minus the masked score")

    @property
    def note(self) -> str:
        """Why a map shows little: at a near-certain score no single patch moves it much (the model's
        output is saturated), so even the strongest patch is a tiny change."""
        if self.largest >= FAINT_OCCLUSION:
            return ""
        if self.largest == 0.0:
            return (f"no patch changes the score at all: at {score_text(self.base)} the model is saturated "
                    "(no single patch decides it), so the map is uniform grey")
        return (f"a faint map: at {score_text(self.base)} the model is near certain and no single patch moves the "
                f"score by more than {self.largest:.2g}; the colours are scaled to that largest change")

    def full(self, channel: int) -> np.ndarray:
        """The channel's drop map at stamp resolution (63x63)."""
        m = np.repeat(np.repeat(self.drop[channel], self.patch, axis=0), self.patch, axis=1)
        return m[:STAMP_SIZE, :STAMP_SIZE]


@dataclass
class AlertView:
    record: AlertRecord
    result: ScoreResult
    triplet: np.ndarray | None  # (63, 63, 3) model input; None when preprocessing failed
    features: np.ndarray | None  # (25,) FEATURE_NAMES order; None when preprocessing failed
    model_features: tuple[str, ...]
    stamps: list[np.ndarray | None] = field(default_factory=list)  # raw cutouts (None: unreadable)
    stamp_errors: list[str] = field(default_factory=list)
    light_curve: list[LightCurvePoint] = field(default_factory=list)
    occlusion: Occlusion | None = None

    @property
    def candidate(self) -> dict[str, Any]:
        cand = (self.record.record or {}).get("candidate")
        return cand if isinstance(cand, dict) else {}

    @property
    def feature_items(self) -> list[tuple[str, float | None]]:
        if self.features is None:
            return [(n, None) for n in FEATURE_NAMES]
        return [(n, float(v)) for n, v in zip(FEATURE_NAMES, self.features)]

    @property
    def bts_candidate(self) -> bool | None:
        """The BTS filter's verdict when the scorer reports one (``bts_candidate`` beside the score)."""
        return getattr(self.result, "bts_candidate", None)

    @property
    def bts_reject(self) -> str:
        return getattr(self.result, "bts_reject", "") or ""


# --- finding records -----------------------------------------------------------------------------

def _member_records(spec: str) -> Iterator[AlertRecord]:
    """``archive.tar::member``: that member's records (the ``source`` a score row names)."""
    archive, member = spec.split(MEMBER_SEPARATOR, 1)
    for source, data in archive_buffers(archive):
        if source == spec or source.split(MEMBER_SEPARATOR, 1)[-1] == member:
            yield from records_from_buffer(source, data)


def iter_records(paths: Iterable[str | os.PathLike[str]]) -> Iterator[AlertRecord]:
    """Decoded records of files, directories, archives, Parquet tables and ``archive::member`` specs."""
    for p in paths:
        text = os.fspath(p)
        if not os.path.exists(text) and MEMBER_SEPARATOR in text and os.path.exists(text.split(MEMBER_SEPARATOR)[0]):
            yield from _member_records(text)
        else:
            yield from read_alerts([text])


def find_record(paths: Sequence[str | os.PathLike[str]], candid: int | None = None) -> AlertRecord:
    """The record with ``candid`` among ``paths``; without a candid, the only record there is."""
    seen: list[AlertRecord] = []
    for rec in iter_records(paths):
        if candid is not None and rec.candid == candid:
            return rec
        seen.append(rec)
        if candid is None and len(seen) > 1:
            break
    where = ", ".join(map(os.fspath, paths))
    if candid is not None:
        raise AlertNotFound(f"no alert with candid {candid} in {where}")
    if not seen:
        raise AlertNotFound(f"no alert record in {where}")
    if len(seen) > 1:
        ids = [str(r.candid) for r in itertools.islice(iter_records(paths), 6)]
        raise AlertNotFound(f"{where} holds several alerts: choose one with --candid (e.g. {', '.join(ids)})")
    return seen[0]


# --- what the model and a scanner see ------------------------------------------------------------

def raw_stamps(record: dict[str, Any] | None) -> tuple[list[np.ndarray | None], list[str]]:
    """The three cutouts as stored (float32 pixels, FITS decoded), for the scanner's view; a cutout that
    cannot be decoded is None with its reason."""
    from ..prep.reference import PreprocessError, decode_stamp

    stamps: list[np.ndarray | None] = []
    errors: list[str] = []
    for name in CUTOUT_FIELDS:
        cutout = (record or {}).get(name)
        data = cutout.get("stampData") if isinstance(cutout, dict) else None
        if not data:
            stamps.append(None)
            errors.append("missing cutout")
            continue
        try:
            stamps.append(decode_stamp(data))
            errors.append("")
        except PreprocessError as exc:
            stamps.append(None)
            errors.append(exc.message)
    return stamps, errors


def _num(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def light_curve(record: dict[str, Any] | None) -> list[LightCurvePoint]:
    """Detections and upper limits of ``prv_candidates`` and the alert itself (``is_alert``), in jd order."""
    rec = record or {}
    points: list[LightCurvePoint] = []
    items = [p for p in (rec.get("prv_candidates") or []) if isinstance(p, dict)]
    cand = rec.get("candidate")
    for p, is_alert in [(p, False) for p in items] + ([(cand, True)] if isinstance(cand, dict) else []):
        jd = _num(p.get("jd"))
        if jd is None:
            continue
        fid = p.get("fid")
        points.append(LightCurvePoint(jd, int(fid) if fid is not None else None, _num(p.get("magpsf")),
                                      _num(p.get("sigmapsf")), _num(p.get("diffmaglim")), is_alert))
    points.sort(key=lambda q: q.jd)
    return points


def occlusion(scorer: Scorer, triplet: np.ndarray, features: np.ndarray,
              patch: int = OCCLUSION_PATCH) -> Occlusion:
    """Occlusion saliency of one preprocessed alert: every ``patch`` x ``patch`` patch of each channel in
    turn is replaced by that channel's median and the masked inputs are scored in batches by the Scorer
    (ONNX Runtime). ``features``: all 25 in FEATURE_NAMES order (the model's own are picked here)."""
    if patch < 1 or patch > STAMP_SIZE:
        raise ValueError(f"patch must be within 1..{STAMP_SIZE}")
    meta = np.asarray(features, dtype=np.float32)[list(map(FEATURE_NAMES.index, scorer.feature_names))]
    base = float(scorer.score_arrays(triplet[None], meta[None])[0])
    n = -(-STAMP_SIZE // patch)
    masked = np.repeat(np.asarray(triplet, dtype=np.float32)[None], 3 * n * n, axis=0)
    k = 0
    for c in range(3):
        fill = np.float32(np.median(triplet[:, :, c]))
        for i in range(n):
            for j in range(n):
                masked[k, i * patch:(i + 1) * patch, j * patch:(j + 1) * patch, c] = fill
                k += 1
    scores = scorer.score_arrays(masked, np.repeat(meta[None], len(masked), axis=0))
    return Occlusion(base, (base - scores.astype(np.float64)).reshape(3, n, n), patch)


def inspect_records(scorer: Scorer, records: Sequence[AlertRecord], *, saliency: bool = False,
                    patch: int = OCCLUSION_PATCH) -> list[AlertView]:
    """Views of decoded records (fastavro's, with their ``record`` dicts), preprocessed with the Scorer's
    engine and scored by it in one batch."""
    records = list(records)
    batch = preprocess_records(records, scorer.engine, scorer.threads)
    results = scorer.score_batch(batch)
    views = []
    for i, (rec, result) in enumerate(zip(records, results)):
        ok = bool(batch.ok[i])
        stamps, errors = raw_stamps(rec.record)
        view = AlertView(rec, result, batch.triplets[i].copy() if ok else None,
                         batch.metadata[i].copy() if ok else None, tuple(scorer.feature_names), stamps, errors,
                         light_curve(rec.record))
        if saliency and ok and result.score is not None:
            view.occlusion = occlusion(scorer, view.triplet, view.features, patch)
        views.append(view)
    return views


__all__ = ["AlertNotFound", "AlertView", "CHANNELS", "FAINT_OCCLUSION", "FILTERS", "LightCurvePoint", "OCCLUSION_PATCH",
           "Occlusion", "find_record", "inspect_records", "iter_records", "light_curve", "occlusion", "raw_stamps",
           "score_text"]
