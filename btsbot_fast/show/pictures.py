"""Pictures of alerts, written once per alert into a folder that pages share (``report``, ``evaluate``).

Each alert gets ``<candid>_<model>.png`` (the ``show`` figure) and ``<candid>_<model>_triplet.png`` (the
scanner's triplet thumbnail). Drawing is matplotlib-bound and single-threaded, so several alerts are drawn at once
in worker processes (``jobs``); a picture already in the folder is not drawn again.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

from .alert import AlertView

PICTURE_DIR = "alerts"


def picture_names(view: AlertView) -> tuple[str, str]:
    """The figure's and the thumbnail's file names: by candid (by source and record index without one)
    and model, so a page rebuilt later reuses what is drawn and another model never shows a stale score."""
    r = view.result
    alert = str(r.candid) if r.candid is not None else f"{Path(r.source).name}-{r.record_index}"
    stem = f"{alert}_{r.model}"
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in stem)
    return f"{stem}.png", f"{stem}_triplet.png"


def _draw(view: AlertView, figure: str, thumbnail: str) -> None:
    from .figure import draw_alert, triplet_thumbnail

    if not os.path.exists(figure):
        draw_alert(view, figure)
    if not os.path.exists(thumbnail):
        triplet_thumbnail(view, thumbnail)


def _light(view: AlertView) -> AlertView:
    """The view without its decoded packet (drawing needs only what was taken from it): less to send."""
    return dataclasses.replace(view, record=dataclasses.replace(view.record, record=None))


def draw_pictures(views: Sequence[AlertView], folder: str | os.PathLike[str],
                  jobs: int = 0) -> dict[int, tuple[str, str]]:
    """Draw every view's figure and thumbnail into ``folder``; returns ``id(view) -> (figure, thumbnail)``
    paths relative to ``folder``'s parent. ``jobs``: worker processes (0 = one per core)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {id(v): picture_names(v) for v in views}
    todo: dict[str, tuple[AlertView, str, str]] = {}
    for v in views:
        fig, thumb = names[id(v)]
        if fig not in todo and not ((folder / fig).exists() and (folder / thumb).exists()):
            todo[fig] = (v, str(folder / fig), str(folder / thumb))
    jobs = jobs or os.cpu_count() or 1
    if jobs == 1 or len(todo) < 4:
        for v, fig, thumb in todo.values():
            _draw(v, fig, thumb)
    else:
        # spawned workers: a fork would copy this process's ONNX Runtime threads and matplotlib state
        with cf.ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_draw, _light(v), fig, thumb) for v, fig, thumb in todo.values()]
            for f in futures:
                f.result()
    rel = folder.name
    return {k: (f"{rel}/{fig}", f"{rel}/{thumb}") for k, (fig, thumb) in names.items()}


__all__ = ["PICTURE_DIR", "draw_pictures", "picture_names"]
