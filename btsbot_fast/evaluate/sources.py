"""Source-level evaluation: the selection policies (:mod:`btsbot_fast.policies`) walked over each object's
alerts in time order, scored against labels.

For each object the alerts are walked in jd order; the policy is evaluated on the alerts so far and the
first alert at which it passes gives the trigger (jd, magpsf). With ``verdicts`` (each alert's BTS candidate
filter verdict: ``evaluate --candidates bts``) it must pass on a candidate, as autoscan decides
(:meth:`~btsbot_fast.policies.Policy.walk`). The object's prediction is the policy after its last alert.
Completeness = TP/(TP+FN), purity = TP/(TP+FP) over objects, overall and per bin of the object's peak
(minimum) magpsf (0.25 mag bins from 17.0 to 18.5). Scores are compared as
:func:`btsbot_fast.policies.above` says (``>`` by default, ``>=`` with ``strict=False``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..policies import STRICT, Policy, above
from .metrics import _ratio, bin_index, bin_labels

PEAKMAG_EDGES = (17.0, 17.25, 17.5, 17.75, 18.0, 18.25, 18.5)


def group_objects(object_ids: np.ndarray, jd: np.ndarray) -> list[np.ndarray]:
    """Row indices of each object, sorted by jd (stable), objects in order of first appearance."""
    oids = np.asarray(object_ids).astype(str)
    uniq, first, inv = np.unique(oids, return_index=True, return_inverse=True)
    order = np.lexsort((np.arange(len(oids)), np.asarray(jd, dtype=np.float64), inv))
    counts = np.bincount(inv, minlength=len(uniq))
    groups = np.split(order, np.cumsum(counts)[:-1]) if len(oids) else []
    return [groups[i] for i in np.argsort(first, kind="stable")]


def evaluate_sources(object_ids: np.ndarray, jd: np.ndarray, magpsf: np.ndarray, labels: np.ndarray,
                     scores: np.ndarray, policies: Sequence[Policy], strict: bool = STRICT,
                     ref_times: dict[str, float] | None = None,
                     edges: Sequence[float] = PEAKMAG_EDGES, verdicts: np.ndarray | None = None
                     ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(metrics per policy, one row per object)`` for the given alerts; ``verdicts`` (per alert, true =
    passed the BTS candidate filter) restricts the decisions to candidates and adds, per policy, how many
    objects it selects without the filter and how many of those the filter removed."""
    groups = group_objects(object_ids, jd)
    passed = None if verdicts is None else np.asarray(verdicts, dtype=bool)
    jd = np.asarray(jd, dtype=np.float64)
    magpsf = np.asarray(magpsf, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    scores = np.asarray(scores, dtype=np.float64)
    oids = np.asarray(object_ids).astype(str)
    objects: list[dict[str, Any]] = []
    for rows in groups:
        obj = {"objectId": oids[rows[0]], "n_alerts": int(len(rows)), "label": int(labels[rows].max()),
               "peakmag": float(np.nanmin(magpsf[rows])) if np.any(~np.isnan(magpsf[rows])) else float("nan"),
               "max_score": float(scores[rows].max())}
        if passed is not None:
            obj["bts_candidate"] = int(passed[rows].any())
        for p in policies:
            i = p.walk(scores[rows], magpsf[rows], strict, None if passed is None else passed[rows])
            if passed is not None:
                obj[f"{p.name}_pred_all"] = int(p.walk(scores[rows], magpsf[rows], strict) >= 0)
            obj[f"{p.name}_pred"] = int(i >= 0)
            obj[f"{p.name}_trigger_jd"] = float(jd[rows[i]]) if i >= 0 else None
            obj[f"{p.name}_trigger_mag"] = float(magpsf[rows[i]]) if i >= 0 else None
            if ref_times is not None:
                ref = ref_times.get(obj["objectId"])
                obj[f"{p.name}_delay"] = (float(jd[rows[i]] - ref) if (i >= 0 and ref is not None) else None)
        objects.append(obj)

    y = np.array([o["label"] for o in objects], dtype=bool)
    peak = np.array([o["peakmag"] for o in objects], dtype=np.float64)
    bidx = bin_index(peak, edges, open_ends=False) if len(objects) else np.array([], dtype=int)
    out: dict[str, Any] = {}
    for p in policies:
        pred = np.array([o[f"{p.name}_pred"] for o in objects], dtype=bool)
        m = _counts(y, pred)
        m.update({"policy": p.name, "threshold": p.threshold, "min_count": p.min_count, "mag_limit": p.mag_limit,
                  "peak_limit": p.peak_limit, "strict": bool(strict), "n_objects": int(len(objects))})
        if passed is not None:
            n_all = sum(o.pop(f"{p.name}_pred_all") for o in objects)
            m.update({"selected_without_filter": int(n_all), "removed_by_filter": int(n_all - pred.sum())})
        bins = []
        for b, lab in enumerate(bin_labels(edges, open_ends=False)):
            sel = bidx == b
            bins.append({**lab, "n": int(sel.sum()), **_counts(y[sel], pred[sel])})
        m["by_peakmag"] = bins
        if ref_times is not None:
            d = np.array([o[f"{p.name}_delay"] for o in objects if o[f"{p.name}_delay"] is not None], dtype=float)
            dp = np.array([o[f"{p.name}_delay"] for o in objects
                           if o[f"{p.name}_delay"] is not None and o["label"] == 1], dtype=float)
            m["delay"] = {"n": int(len(d)), "median_days": float(np.median(d)) if len(d) else float("nan"),
                          "mean_days": float(np.mean(d)) if len(d) else float("nan"),
                          "n_positive": int(len(dp)),
                          "median_days_positive": float(np.median(dp)) if len(dp) else float("nan"),
                          "values": [float(v) for v in d]}
        out[p.name] = m
    return out, objects


def _counts(y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    tp = int(np.sum(y & pred))
    fp = int(np.sum(~y & pred))
    fn = int(np.sum(y & ~pred))
    tn = int(np.sum(~y & ~pred))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn, "completeness": _ratio(tp, tp + fn), "purity": _ratio(tp, tp + fp)}


def critical_scores(object_ids: np.ndarray, jd: np.ndarray, magpsf: np.ndarray, policy: Policy,
                    scores: np.ndarray, verdicts: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per object, the highest threshold at which ``policy`` selects it after its last alert (the
    ``min_count``-th largest score among its eligible alerts; -inf when it can never pass, or, with
    ``verdicts``, when no alert of it passed the BTS candidate filter)."""
    groups = group_objects(object_ids, jd)
    magpsf = np.asarray(magpsf, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    passed = None if verdicts is None else np.asarray(verdicts, dtype=bool)
    crit = np.full(len(groups), -np.inf)
    for g, rows in enumerate(groups):
        if policy.peak_limit is not None and not np.nanmin(magpsf[rows]) <= policy.peak_limit:
            continue
        if passed is not None and not passed[rows].any():
            continue  # never a candidate (after its last alert, any candidate alert makes it one)
        s = scores[rows]
        if policy.mag_limit is not None:
            s = s[magpsf[rows] < policy.mag_limit]
        if len(s) >= policy.min_count:
            crit[g] = np.sort(s)[::-1][policy.min_count - 1]
    return crit, groups


def threshold_scan(object_ids: np.ndarray, jd: np.ndarray, magpsf: np.ndarray, labels: np.ndarray,
                   scores: np.ndarray, policy: Policy, thresholds: Sequence[float], strict: bool = STRICT,
                   verdicts: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Completeness and purity of ``policy`` (its after-last-alert prediction) at each threshold."""
    crit, groups = critical_scores(object_ids, jd, magpsf, policy, scores, verdicts)
    labels = np.asarray(labels).astype(int)
    y = np.array([labels[r].max() for r in groups], dtype=bool)
    rows = []
    for t in thresholds:
        pred = above(crit, t, strict)
        c = _counts(y, pred)
        rows.append({"threshold": float(t), **c})
    return rows
