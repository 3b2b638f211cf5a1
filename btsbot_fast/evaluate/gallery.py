"""The most confident mistakes of an evaluation, drawn with the ``show`` code.

False positives (label 0) with the highest scores above the threshold and false negatives (label 1)
with the lowest scores at or below it. Each gets the ``show`` figure (btsbot_fast/show): from its alert
packet when the data are labelled packets (model inputs, scanner view, light curve), else from the
model inputs the data release holds. ``EVAL_DIR/gallery.png`` puts their model-input triplets side by
side; ``EVAL_DIR/gallery.html`` is the page section listing them with their figures
(``EVAL_DIR/gallery/``).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from ..io.records import AlertRecord
from ..plotting import pyplot
from ..policies import above
from ..prep.bts import NO_CANDIDATE, describe
from ..rows import ScoreResult
from ..show.alert import AlertView, inspect_records, iter_records
from ..show.pictures import draw_pictures

GALLERY_SIZE = 8


def confident_mistakes(labels: np.ndarray, scores: np.ndarray, threshold: float, strict: bool = True,
                       k: int = GALLERY_SIZE) -> dict[str, np.ndarray]:
    """Row indices: ``fp`` (label 0, counted as positive) by descending score, ``fn`` (label 1, not
    counted) by ascending score, at most ``k`` each."""
    y = np.asarray(labels).astype(bool)
    pos = above(scores, threshold, strict)
    fp = np.flatnonzero(~y & pos)
    fn = np.flatnonzero(y & ~pos)
    return {"fp": fp[np.argsort(-scores[fp], kind="stable")][:k], "fn": fn[np.argsort(scores[fn], kind="stable")][:k]}


def _array_view(scorer: Any, data: Any, row: int, score: float, where: str) -> AlertView:
    """A view from the model inputs alone (a data release has no packets): no scanner view, no light curve."""
    oid, candid = str(data.objectId[row]), int(data.candid[row])
    rec = AlertRecord(where, row, oid, candid if candid >= 0 else None, None)
    # a release holds no candidate record: the BTS filter's verdict is unknown, as for any such row
    result = ScoreResult(objectId=oid, candid=rec.candid, jd=float(data.jd[row]), magpsf=float(data.magpsf[row]),
                         fid=None, score=float(score), precision="fp32", status="ok", error="", bts_candidate=None,
                         bts_reject=describe(NO_CANDIDATE)[1], model=scorer.model_name,
                         model_version=scorer.model_version, source=where, record_index=row)
    return AlertView(rec, result, np.asarray(data.triplet_rows(np.array([row]))[0]), np.asarray(data.metadata[row]),
                     tuple(scorer.feature_names), [None, None, None], ["not in the data release"] * 3)


def _views(scorer: Any, parts: list[Any], rows: np.ndarray, scores: np.ndarray) -> list[AlertView]:
    """Views of rows of the splits ``parts`` taken together (in order), as ``scores`` are."""
    starts = np.cumsum([0] + [len(p) for p in parts])
    where = [(int(np.searchsorted(starts, r, side="right") - 1), int(r)) for r in rows]
    copies: dict[int, list[AlertRecord]] = {}
    sources = {str(parts[i].extra.get("source")) for i, _ in where if parts[i].extra.get("source")}
    dirs = sorted(s for s in sources if Path(s).is_dir())
    if dirs:  # labelled packets: draw from the packets themselves
        wanted = {int(parts[i].candid[r - starts[i]]) for i, r in where}
        for rec in iter_records(dirs):
            if rec.candid in wanted:
                copies.setdefault(rec.candid, []).append(rec)
    views = []
    for i, r in where:
        part, local = parts[i], r - int(starts[i])
        recs = copies.get(int(part.candid[local]))
        if recs:  # the alert was scored: of several copies of its candid (a damaged one too), a scored one
            seen = inspect_records(scorer, recs)
            views.append(next((v for v in seen if v.result.score is not None), seen[0]))
        else:
            views.append(_array_view(scorer, part, local, float(scores[r]), str(part.extra.get("source", "dataset"))))
    return views


def _overview(path: Path, groups: dict[str, list[AlertView]], labels: dict[str, str]) -> Path:
    """One PNG: a row per kind of mistake, per alert its three model-input channels (each over its own
    range) with objectId, candid and score."""
    plt = pyplot()
    ncol = max(1, max(len(v) for v in groups.values()))
    fig, axes = plt.subplots(len(groups), ncol, figsize=(2.9 * ncol, 2.0 * len(groups) + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for g, (kind, views) in enumerate(groups.items()):
        axes[g, 0].text(0.0, 1.55, labels[kind], transform=axes[g, 0].transAxes, fontsize=10, weight="bold")
        for j, v in enumerate(views):
            t = v.triplet
            if t is not None:
                chans = [t[:, :, c] for c in range(3)]
                strip = np.hstack([(x - x.min()) / ((x.max() - x.min()) or 1.0) for x in chans])
                axes[g, j].imshow(strip, cmap="gray", origin="lower", interpolation="nearest")
            score = "n/a" if v.result.score is None else f"{v.result.score:.3f}"
            axes[g, j].set_title(f"{v.result.objectId}  score {score}\ncandid {v.result.candid}", fontsize=7)
    fig.suptitle("Most confident mistakes: model inputs (science | template | difference)", fontsize=11)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.78, bottom=0.04, hspace=1.1, wspace=0.08)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_gallery(out: Path, scorer: Any, parts: list[Any], scores: np.ndarray, threshold: float, strict: bool = True,
                  k: int = GALLERY_SIZE) -> dict[str, Any]:
    """``gallery.png``, ``gallery.html`` and ``gallery/`` in ``out`` for the splits ``parts`` (scored
    together: ``scores``); returns the listing for metrics.json."""
    labels_all = np.concatenate([p.labels for p in parts])
    picks = confident_mistakes(labels_all, scores, threshold, strict, k)
    labels = {"fp": f"False positives (label 0, score {'>' if strict else '>='} {threshold:g}), most confident first",
              "fn": f"False negatives (label 1, score {'<=' if strict else '<'} {threshold:g}), most confident first"}
    groups = {kind: _views(scorer, parts, rows, scores) for kind, rows in picks.items()}
    every = [v for vs in groups.values() for v in vs]
    names = draw_pictures(every, out / "gallery")
    listing = {kind: [{"objectId": v.result.objectId, "candid": v.result.candid, "score": v.result.score,
                       "figure": names[id(v)][0]} for v in vs] for kind, vs in groups.items()}
    if every:
        _overview(out / "gallery.png", groups, labels)
    parts = []
    for kind, vs in groups.items():
        items = "".join(f'<figure><figcaption>{html.escape(str(v.result.objectId))} candid {v.result.candid}: '
                        f'score {v.result.score:.4f}</figcaption>'
                        f'<img class="figure" src="{html.escape(names[id(v)][0])}" '
                        f'alt="show figure" loading="lazy"></figure>' for v in vs) or "<p>none</p>"
        parts.append(f'<section class="gallery" id="gallery-{kind}"><h2>{html.escape(labels[kind])}</h2>'
                     f'{items}</section>')
    (out / "gallery.html").write_text(
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>evaluate: confident mistakes</title>'
        '<style>body{font:14px system-ui,sans-serif;margin:1em 2em}img.figure{max-width:100%;border:1px solid #ccc}'
        f'</style></head><body><h1>Most confident mistakes</h1>{"".join(parts)}</body></html>\n', encoding="utf-8")
    return {"figure": "gallery.png" if every else None, "page": "gallery.html", **listing}


__all__ = ["GALLERY_SIZE", "confident_mistakes", "write_gallery"]
