"""Source-level evaluation: selection policies walked over each object's alerts in time order.

Policies (spec btsbot-v1 §5/§6), with ``t`` the score threshold (default 0.5, or 0.85 for ``prod_*``):

* ``gtN``    - at least N alerts with score >= t;
* ``bts_p1`` - at least 2 alerts with score >= t and magpsf < 19 (the 2024 production save filter);
* ``bts_p2`` - ``bts_p1`` and the peak (minimum) magpsf so far <= 18.5 (the trigger filter);
* ``prod_p1`` - at least 1 alert with score >= 0.85 and magpsf < 19; ``prod_p2`` adds peak <= 18.5.

Any policy takes an explicit threshold as ``name@t`` (``gt1@0.3``, ``bts_p1@0.7``). Scores are compared with
``>=`` (the papers' wording); ``strict=True`` uses ``>`` like upstream's code (they differ only on ties).

For each object the alerts are walked in jd order; the policy is evaluated on the alerts so far and the
first alert at which it passes gives the trigger (jd, magpsf). The object's prediction is the policy after
its last alert. Completeness = TP/(TP+FN), purity = TP/(TP+FP) over objects, overall and per bin of the
object's peak (minimum) magpsf (0.25 mag bins from 17.0 to 18.5).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from .metrics import _ratio, bin_index, bin_labels

PEAKMAG_EDGES = (17.0, 17.25, 17.5, 17.75, 18.0, 18.25, 18.5)
DEFAULT_POLICIES = ("gt1", "gt2", "gt3", "bts_p1", "bts_p2", "prod_p1", "prod_p2")
_POLICY_RE = re.compile(r"^(gt(?P<n>[1-9][0-9]*)|bts_p1|bts_p2|prod_p1|prod_p2)(@(?P<t>[0-9.eE+-]+))?$")


@dataclass(frozen=True)
class Policy:
    name: str
    min_count: int
    threshold: float
    mag_limit: float | None = None  # counted alerts need magpsf < mag_limit
    peak_limit: float | None = None  # and the peak magpsf so far <= peak_limit

    @classmethod
    def parse(cls, spec: str, threshold: float | None = None) -> "Policy":
        """``gt2``, ``bts_p1``, ``prod_p2@0.9`` ...; ``threshold`` replaces the default of a policy
        written without ``@``."""
        m = _POLICY_RE.match(spec.strip())
        if not m:
            raise ValueError(f"unknown policy {spec!r}: use gtN, bts_p1, bts_p2, prod_p1, prod_p2 (optionally @T)")
        base = m.group(1)
        t = m.group("t")
        if base.startswith("gt"):
            n, default, mag, peak = int(m.group("n")), 0.5, None, None
        elif base.startswith("bts"):
            n, default, mag, peak = 2, 0.5, 19.0, (18.5 if base.endswith("2") else None)
        else:
            n, default, mag, peak = 1, 0.85, 19.0, (18.5 if base.endswith("2") else None)
        thr = float(t) if t is not None else (float(threshold) if threshold is not None and base.startswith(("gt", "bts"))
                                              else default)
        name = spec.strip() if t is not None or threshold is None or thr == default else f"{base}@{thr:g}"
        return cls(name=name, min_count=n, threshold=thr, mag_limit=mag, peak_limit=peak)

    def counted(self, scores: np.ndarray, magpsf: np.ndarray, strict: bool = False) -> np.ndarray:
        s = np.asarray(scores, dtype=np.float64)
        ok = s > self.threshold if strict else s >= self.threshold
        if self.mag_limit is not None:
            ok &= np.asarray(magpsf, dtype=np.float64) < self.mag_limit
        return ok

    def walk(self, scores: np.ndarray, magpsf: np.ndarray, strict: bool = False) -> int:
        """Index (into the given, jd-ordered alerts) of the first alert at which the policy passes; -1 if never."""
        ok = self.counted(scores, magpsf, strict)
        passing = np.cumsum(ok) >= self.min_count
        if self.peak_limit is not None:
            passing &= np.minimum.accumulate(np.asarray(magpsf, dtype=np.float64)) <= self.peak_limit
        hits = np.flatnonzero(passing)
        return int(hits[0]) if len(hits) else -1


def group_objects(object_ids: np.ndarray, jd: np.ndarray) -> list[np.ndarray]:
    """Row indices of each object, sorted by jd (stable), objects in order of first appearance."""
    oids = np.asarray(object_ids).astype(str)
    uniq, first, inv = np.unique(oids, return_index=True, return_inverse=True)
    order = np.lexsort((np.arange(len(oids)), np.asarray(jd, dtype=np.float64), inv))
    counts = np.bincount(inv, minlength=len(uniq))
    groups = np.split(order, np.cumsum(counts)[:-1]) if len(oids) else []
    return [groups[i] for i in np.argsort(first, kind="stable")]


def evaluate_sources(object_ids: np.ndarray, jd: np.ndarray, magpsf: np.ndarray, labels: np.ndarray,
                     scores: np.ndarray, policies: Sequence[Policy], strict: bool = False,
                     ref_times: dict[str, float] | None = None,
                     edges: Sequence[float] = PEAKMAG_EDGES) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``(metrics per policy, one row per object)`` for the given alerts."""
    groups = group_objects(object_ids, jd)
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
        for p in policies:
            i = p.walk(scores[rows], magpsf[rows], strict)
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
                    scores: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Per object, the highest threshold at which ``policy`` selects it after its last alert (the
    ``min_count``-th largest score among its eligible alerts; -inf when it can never pass)."""
    groups = group_objects(object_ids, jd)
    magpsf = np.asarray(magpsf, dtype=np.float64)
    scores = np.asarray(scores, dtype=np.float64)
    crit = np.full(len(groups), -np.inf)
    for g, rows in enumerate(groups):
        if policy.peak_limit is not None and not np.nanmin(magpsf[rows]) <= policy.peak_limit:
            continue
        s = scores[rows]
        if policy.mag_limit is not None:
            s = s[magpsf[rows] < policy.mag_limit]
        if len(s) >= policy.min_count:
            crit[g] = np.sort(s)[::-1][policy.min_count - 1]
    return crit, groups


def threshold_scan(object_ids: np.ndarray, jd: np.ndarray, magpsf: np.ndarray, labels: np.ndarray,
                   scores: np.ndarray, policy: Policy, thresholds: Sequence[float], strict: bool = False
                   ) -> list[dict[str, Any]]:
    """Completeness and purity of ``policy`` (its after-last-alert prediction) at each threshold."""
    crit, groups = critical_scores(object_ids, jd, magpsf, policy, scores)
    labels = np.asarray(labels).astype(int)
    y = np.array([labels[r].max() for r in groups], dtype=bool)
    rows = []
    for t in thresholds:
        pred = crit > t if strict else crit >= t
        c = _counts(y, pred)
        rows.append({"threshold": float(t), **c})
    return rows
