"""Alert-level metrics: confusion counts, accuracy/precision/recall, ROC curve and AUC (no sklearn).

Undefined ratios (0/0) are ``nan`` here and ``null`` in ``metrics.json``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..policies import STRICT, above

#: PSF-magnitude bins for alert-level counts (0.5 mag from 15 to 21, plus open-ended ends)
MAGPSF_EDGES = tuple(np.round(np.arange(15.0, 21.0 + 1e-9, 0.5), 2).tolist())


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def predict(scores: np.ndarray, threshold: float = 0.5, strict: bool = STRICT) -> np.ndarray:
    """Boolean predictions by the project's one comparison rule (:func:`btsbot_fast.policies.above`)."""
    return above(scores, threshold, strict)


def confusion(labels: np.ndarray, preds: np.ndarray) -> dict[str, int]:
    y = np.asarray(labels).astype(bool)
    p = np.asarray(preds).astype(bool)
    return {"tp": int(np.sum(y & p)), "fp": int(np.sum(~y & p)), "tn": int(np.sum(~y & ~p)),
            "fn": int(np.sum(y & ~p))}


def rates(c: dict[str, int]) -> dict[str, float]:
    tp, fp, tn, fn = c["tp"], c["fp"], c["tn"], c["fn"]
    recall = _ratio(tp, tp + fn)
    specificity = _ratio(tn, tn + fp)
    return {
        "accuracy": _ratio(tp + tn, tp + fp + tn + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": recall,
        "specificity": specificity,
        "balanced_accuracy": (recall + specificity) / 2 if not (np.isnan(recall) or np.isnan(specificity))
        else float("nan"),
    }


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` with one point per distinct score (descending), starting at (0, 0);
    a point means "predict positive when score >= threshold"."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    distinct = np.flatnonzero(np.diff(s)) if len(s) else np.array([], dtype=int)
    ends = np.concatenate([distinct, [len(s) - 1]]) if len(s) else np.array([], dtype=int)
    tps = np.cumsum(y)[ends] if len(s) else np.array([])
    fps = (ends + 1) - tps
    P, N = int(y.sum()), int((~y).sum())
    tpr = np.concatenate([[0.0], tps / P if P else np.full(len(tps), np.nan)])
    fpr = np.concatenate([[0.0], fps / N if N else np.full(len(fps), np.nan)])
    thr = np.concatenate([[np.inf], s[ends]]) if len(s) else np.array([np.inf])
    return fpr, tpr, thr


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve = P(score of a random positive > random negative), ties counting 1/2
    (the Mann-Whitney U statistic). ``nan`` when one class is absent."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    P, N = int(y.sum()), int((~y).sum())
    if P == 0 or N == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    ss = s[order]
    # average ranks over ties (1-based)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ss)) + 1])
    ends = np.concatenate([starts[1:], [len(ss)]])
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[y].sum() - P * (P + 1) / 2.0
    return float(u / (P * N))


def bin_index(values: np.ndarray, edges: Sequence[float], open_ends: bool = True) -> np.ndarray:
    """Bin of each value: with ``open_ends`` bin 0 is ``< edges[0]`` and bin len(edges) is
    ``>= edges[-1]``; otherwise bins are ``[e_i, e_i+1)`` with the last one closed, -1 outside."""
    v = np.asarray(values, dtype=np.float64)
    e = np.asarray(edges, dtype=np.float64)
    if open_ends:
        return np.searchsorted(e, v, side="right")
    idx = np.searchsorted(e, v, side="right") - 1
    idx[(v == e[-1])] = len(e) - 2
    idx[(v < e[0]) | (v > e[-1]) | np.isnan(v)] = -1
    return idx


def bin_labels(edges: Sequence[float], open_ends: bool = True) -> list[dict[str, Any]]:
    e = list(edges)
    out = []
    if open_ends:
        out.append({"lo": None, "hi": e[0]})
    out += [{"lo": lo, "hi": hi} for lo, hi in zip(e[:-1], e[1:])]
    if open_ends:
        out.append({"lo": e[-1], "hi": None})
    return out


def alert_metrics(labels: np.ndarray, scores: np.ndarray, magpsf: np.ndarray | None = None,
                  threshold: float = 0.5, strict: bool = STRICT,
                  edges: Sequence[float] = MAGPSF_EDGES) -> dict[str, Any]:
    """Alert-level metrics at ``threshold``, overall and per PSF-magnitude bin."""
    labels = np.asarray(labels).astype(bool)
    preds = predict(scores, threshold, strict)
    c = confusion(labels, preds)
    out: dict[str, Any] = {"n": int(len(labels)), "threshold": threshold, "roc_auc": roc_auc(labels, scores)}
    out.update(rates(c))
    out.update(c)
    if magpsf is not None:
        idx = bin_index(magpsf, edges, open_ends=True)
        rows = []
        for b, lab in enumerate(bin_labels(edges, open_ends=True)):
            m = idx == b
            cb = confusion(labels[m], preds[m])
            row = {**lab, "n": int(m.sum()), **cb, **{k: v for k, v in rates(cb).items()
                                                      if k in ("accuracy", "precision", "recall")}}
            rows.append(row)
        out["by_magpsf"] = rows
    return out
