"""``btsbot-fast evaluate``: score a split through the project's Scorer and write metrics + figures.

EVAL_DIR gets ``metrics.json`` (``alert.*``, ``source.<policy>.*``, ``candidates``, ``gallery``), ``scores.csv``
(one row per alert), ``sources.csv`` (one row per object and policy outcome), PNG figures, and the gallery
of the most confident false positives and negatives drawn with the ``show`` code (``gallery.png``,
``gallery.html``, ``gallery/``: btsbot_fast/evaluate/gallery.py).

Source-level decisions are taken on BTS candidates (``candidates="bts"``, as autoscan decides) when the
data carry each alert's BTS filter verdict (a ``bts_candidate`` column of a release-layout CSV, or alert
packets, whose verdict preprocessing computes); ``candidates="all"`` decides on every object. The default
(None) is ``bts`` where the data have verdicts and ``all`` where they have none. Alert-level metrics are
over every alert either way.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..policies import CANDIDATE_MODES, DEFAULT_POLICIES, STRICT, Policy
from ..train.data import AlertSet, DataError, load_dataset
from . import figures
from .metrics import alert_metrics, roc_curve
from .sources import evaluate_sources, threshold_scan

SCAN_POLICIES = ("gt1", "gt2", "bts_p1", "prod_p1")
SCORE_CHUNK = 4096


def read_ref_times(path: str | Path) -> dict[str, float]:
    """``objectId -> jd`` from a CSV with columns objectId,jd (the earliest jd wins for repeated ids)."""
    out: dict[str, float] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "objectId" not in reader.fieldnames or "jd" not in reader.fieldnames:
            raise DataError(f"{path}: a reference-times CSV needs the columns objectId,jd")
        for row in reader:
            o, jd = row["objectId"].strip(), row["jd"].strip()
            if not o or not jd:
                continue
            out[o] = min(float(jd), out.get(o, math.inf))
    return out


def score_alerts(model: Any, data: AlertSet, home: str | os.PathLike | None = None) -> tuple[np.ndarray, Any]:
    """Scores for every alert of ``data`` through ``Scorer(model).score_arrays`` (in chunks)."""
    from ..scorer import Scorer

    scorer = Scorer(model=model, home=home) if home is not None else Scorer(model=model)
    names = list(scorer.feature_names)
    out = np.empty(len(data), dtype=np.float32)
    for s in range(0, len(data), SCORE_CHUNK):
        rows = np.arange(s, min(s + SCORE_CHUNK, len(data)))
        out[rows] = scorer.score_arrays(data.triplet_rows(rows), data.features(names, rows))
    return out, scorer


def _clean(x):
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def evaluate(model: Any, data_dir: str | Path, out_dir: str | Path, *, split: str = "test",
             policies: Sequence[str] = DEFAULT_POLICIES, threshold: float = 0.5, strict: bool = STRICT,
             ref_times: str | Path | None = None, tag: str | None = None, labels: str | Path | None = None,
             split_fractions=(0.81, 0.09, 0.10), split_seed: int = 2, engine: str = "native",
             threads: int = 0, home: str | os.PathLike | None = None, candidates: str | None = None,
             echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Evaluate ``model`` on one split (``all`` = every split together); returns the metrics dict.
    ``candidates``: ``bts``, ``all`` or None (module docstring)."""
    if candidates is not None and candidates not in CANDIDATE_MODES:
        raise ValueError(f"candidates must be one of {', '.join(CANDIDATE_MODES)} or None, got {candidates!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits, kind = load_dataset(data_dir, tag=tag, labels=labels, fractions=split_fractions, seed=split_seed,
                                engine=engine, threads=threads)
    if split == "all":
        parts = [splits[s] for s in ("train", "val", "test") if s in splits]
    else:
        if split not in splits or len(splits[split]) == 0:
            raise DataError(f"{data_dir}: no {split!r} split (have: {', '.join(splits)})")
        parts = [splits[split]]
    pols = [Policy.parse(p, threshold) for p in policies]
    refs = read_ref_times(ref_times) if ref_times else None
    data = _concat(parts)
    if candidates is None:
        candidates = "all" if data.bts_candidate is None else "bts"
    elif candidates == "bts" and data.bts_candidate is None:
        raise DataError(f"{data_dir}: the data have no BTS candidate verdicts (a bts_candidate column); "
                        "evaluate every object with --candidates all")
    echo(f"scoring {len(data)} alerts (split {split}) with {model}")
    scored = [score_alerts(model, p, home) for p in parts]
    scores, scorer = np.concatenate([s for s, _ in scored]), scored[0][1]
    verdicts = data.bts_candidate == 1 if candidates == "bts" else None

    alert = alert_metrics(data.labels, scores, data.magpsf, threshold=threshold, strict=strict)
    source, objects = evaluate_sources(data.objectId, data.jd, data.magpsf, data.labels, scores, pols,
                                       strict=strict, ref_times=refs, verdicts=verdicts)
    thresholds = np.round(np.linspace(0.0, 1.0, 51), 4)
    scans = {}
    for name in SCAN_POLICIES:
        p = Policy.parse(name)
        scans[name] = threshold_scan(data.objectId, data.jd, data.magpsf, data.labels, scores, p, thresholds,
                                     strict, verdicts)
    cand = {"mode": candidates}
    if verdicts is not None:
        n_cand = sum(o["bts_candidate"] for o in objects)
        cand.update({"n_objects": len(objects), "candidate_objects": int(n_cand),
                     "removed_objects": len(objects) - int(n_cand),
                     "candidate_alerts": int(verdicts.sum()), "unknown_alerts": int(np.sum(data.bts_candidate < 0))})

    figs = []
    fpr, tpr, _ = roc_curve(data.labels, scores)
    figs.append(figures.roc_figure(out / "alert_roc.png", fpr, tpr, alert["roc_auc"]))
    figs.append(figures.magpsf_bars_figure(out / "alert_magpsf_bins.png", alert))
    figs.append(figures.score_hist_figure(out / "alert_scores.png", data.labels, scores, threshold))
    figs.append(figures.source_bins_figure(out / "source_peakmag_bins.png", source))
    figs.append(figures.threshold_scan_figure(out / "source_threshold_scan.png", scans))
    if refs is not None:
        f = figures.delay_figure(out / "source_delays.png", source)
        if f is not None:
            figs.append(f)

    from .gallery import write_gallery

    gallery = write_gallery(out, scorer, parts, scores, threshold, strict)
    if gallery["figure"]:
        figs.append(out / gallery["figure"])

    metrics = {
        "model": {"name": scorer.model_name, "version": scorer.model_version, "spec": str(model)},
        "data": {"path": str(Path(data_dir).resolve()), "layout": kind, "split": split, "n_alerts": len(data),
                 "n_objects": data.n_objects,
                 **{k: v for k, v in data.summary().items() if k in ("positive", "negative")}},
        "threshold": threshold,
        "comparison": ">" if strict else ">=",
        "candidates": cand,
        "alert": alert,
        "source": source,
        "threshold_scan": scans,
        "ref_times": str(ref_times) if ref_times else None,
        "figures": [p.name for p in figs],
        "gallery": gallery,
    }
    (out / "metrics.json").write_text(json.dumps(_clean(metrics), indent=2) + "\n", encoding="utf-8")
    _write_scores(out / "scores.csv", data, scores)
    _write_rows(out / "sources.csv", objects)
    shown = [n for n in source if n in ("gt1", "bts_p1")] or list(source)[:2]
    echo(f"alert level: ROC AUC {alert['roc_auc']:.4f}, accuracy {alert['accuracy']:.4f}; "
         + "; ".join(f"{n}: completeness {source[n]['completeness']:.3f} purity {source[n]['purity']:.3f}"
                     for n in shown))
    if verdicts is not None:
        echo(f"BTS candidates: {cand['candidate_objects']} of {cand['n_objects']} objects (the filter removed "
             f"{cand['removed_objects']}); decisions removed by the filter: "
             + ", ".join(f"{n} {source[n]['removed_by_filter']} of {source[n]['selected_without_filter']}"
                         for n in source))
    else:
        echo("decisions on every object (no BTS candidate filter)")
    echo(f"wrote {out / 'metrics.json'} and {len(figs)} figures")
    return metrics


def _concat(parts: list[AlertSet]) -> AlertSet:
    """The table columns of several splits together (triplets are not needed after scoring: left empty)."""
    if len(parts) == 1:
        return parts[0]
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    avail = tuple(n for n in parts[0].available if all(n in p.available for p in parts))
    n = sum(len(p) for p in parts)
    verdicts = cat("bts_candidate") if all(p.bts_candidate is not None for p in parts) else None
    return AlertSet(triplets=np.empty((0, 63, 63, 3), np.float32), metadata=cat("metadata"), labels=cat("labels"),
                    objectId=cat("objectId"), candid=cat("candid"), jd=cat("jd"), magpsf=cat("magpsf"),
                    available=avail, index=np.full(n, -1, dtype=np.int64), bts_candidate=verdicts)


def _write_scores(path: Path, data: AlertSet, scores: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["objectId", "candid", "jd", "magpsf", "label", "score"])
        for i in range(len(data)):
            w.writerow([data.objectId[i], int(data.candid[i]), repr(float(data.jd[i])), repr(float(data.magpsf[i])),
                        int(data.labels[i]), repr(float(scores[i]))])


def _write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    if not rows:
        path.write_text("", encoding="utf-8")
        return
    keys = list(rows[0].keys())
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})
