"""``--precision fast``: score in int8, re-score exactly every alert near a decision threshold.

The int8 model (derived by ``btsbot-fast models quantize``, btsbot_fast/registry/quantize.py) moves scores
by up to a few hundredths; an alert whose exact score sits that close to a threshold could change side.
So every alert whose int8 score lies within ``margin`` of any decision threshold (or is not finite) is
scored again with the exact fp32 model, and that score is the one reported. The margin is a safety factor
(>= 2) times the largest int8-vs-fp32 difference measured on a validation set kept apart from the
calibration alerts (real alerts under the 8 dihedral transforms of their triplets, and stress
perturbations of them; recorded in the model card). An alert whose int8 error is within the margin and is
left with its int8 score is on the same side of every threshold as its exact score; the largest error
measured is at most half the margin. Rows say which model their score came from: the ``precision``
column, ``int8`` or ``fp32`` (:data:`PRECISION_LABELS`; null for a row without a score).

The fp32 re-score of a subset equals the fp32 score of the whole batch bit for bit (ONNX Runtime's CPU
kernels compute each alert independently of its batch companions; tests/test_precision.py checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np

#: ``Scorer(precision=...)``, ``--precision``
PRECISIONS = ("exact", "fast")
#: the ``precision`` column's values: which model the row's score came from
INT8, FP32 = "int8", "fp32"
PRECISION_LABELS = (INT8, FP32)
#: the score thresholds decisions are taken at by default: the policies' (btsbot_fast/policies.py:
#: 0.5 for gtN / bts_*, 0.85 for prod_*)
DEFAULT_DECISION_THRESHOLDS = (0.5, 0.85)

log = logging.getLogger(__name__)


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


def decision_thresholds(thresholds: Iterable[float] | None = None, extra: Iterable[float] = ()) -> tuple[float, ...]:
    """The sorted, distinct thresholds: ``thresholds`` (default :data:`DEFAULT_DECISION_THRESHOLDS`) plus
    ``extra`` (e.g. the active autoscan policy's). Each must lie within [0, 1]."""
    values = tuple(DEFAULT_DECISION_THRESHOLDS if thresholds is None else thresholds) + tuple(extra)
    out = []
    for t in values:
        t = float(t)
        if not 0.0 <= t <= 1.0:  # NaN fails too
            raise ValueError(f"decision threshold {t} is not within [0, 1]")
        out.append(t)
    if not out:
        raise ValueError("at least one decision threshold is needed")
    return tuple(sorted(set(out)))


def parse_thresholds(text: str) -> tuple[float, ...]:
    """``"0.5,0.85"`` -> (0.5, 0.85) (``--decision-thresholds``)."""
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--decision-thresholds: {text!r} is not a comma-separated list of numbers") from None
    return decision_thresholds(values)


class Screening:
    """Scores with the int8 ``screen`` backend and re-scores with the ``exact`` one every alert whose int8
    score is within ``margin`` of a threshold. :meth:`run` gives the scores and the model of each."""

    def __init__(self, screen, exact, margin: float, thresholds: Sequence[float]):
        if not 0.0 < margin < 1.0:
            raise ValueError(f"margin {margin} is not within (0, 1)")
        self.screen = screen
        self.exact = exact
        self.margin = float(margin)
        self.thresholds = np.asarray(decision_thresholds(thresholds), dtype=np.float64)
        #: alerts scored, and those re-scored with the exact model (for the fraction re-scored)
        self.screened = 0
        self.rescored = 0

    def needs_exact(self, approx: np.ndarray) -> np.ndarray:
        """Which int8 scores are within the margin of a threshold (or not finite)."""
        a = np.asarray(approx, dtype=np.float64)
        near = (np.abs(a[:, None] - self.thresholds[None, :]) <= self.margin).any(axis=1)
        return near | ~np.isfinite(a)

    def run(self, triplets: np.ndarray, metadata: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 (N,), is_exact bool (N,)): int8 scores, replaced by exact ones near thresholds.
        Should the int8 model fail on a batch, the whole batch is scored exactly (the fast mode never gives
        a score the exact mode would not); the exact model failing raises, as in the exact mode."""
        try:
            scores = np.array(self.screen.run(triplets, metadata), dtype=np.float32)
            redo = self.needs_exact(scores)
        except Exception as exc:  # noqa: BLE001 - any int8 failure: fall back to the exact model
            log.warning("int8 model failed on a batch of %d alerts (%s); scoring it exactly", len(triplets), exc)
            scores = np.empty(len(triplets), dtype=np.float32)
            redo = np.ones(len(triplets), dtype=bool)
        idx = np.flatnonzero(redo)
        if len(idx):
            scores[idx] = self.exact.run(triplets[idx], metadata[idx])
        self.screened += len(triplets)
        self.rescored += len(idx)
        return scores, redo

    @property
    def fraction_rescored(self) -> float:
        return self.rescored / self.screened if self.screened else 0.0


__all__ = ["DEFAULT_DECISION_THRESHOLDS", "FP32", "INT8", "PRECISIONS", "PRECISION_LABELS", "Screening",
           "check_precision", "decision_thresholds", "parse_thresholds"]
