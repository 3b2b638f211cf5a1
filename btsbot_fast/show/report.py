"""``show`` and ``report`` as functions: one alert's figure, and a night's page.

The alert packets behind the pictures are read with fastavro (:func:`btsbot_fast.show.alert.iter_records`),
preprocessed and scored by the Scorer (:func:`btsbot_fast.show.alert.inspect_records`), so the pictures
show exactly the model's inputs and score.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .alert import OCCLUSION_PATCH, AlertView, find_record, inspect_records, iter_records
from .page import group_sources, parse_policies, read_state, render_page, write_page
from .pictures import PICTURE_DIR, draw_pictures

if TYPE_CHECKING:
    from ..scorer import Scorer


def show_alert(scorer: Scorer, paths: Sequence[str | os.PathLike[str]], candid: int | None = None,
               output: str | os.PathLike[str] | None = None, *, saliency: bool = False,
               patch: int = OCCLUSION_PATCH) -> AlertView:
    """Find one alert (the record with ``candid`` among ``paths``, or the only one), preprocess and score
    it, and draw it to ``output`` when given; returns its :class:`AlertView`."""
    view = inspect_records(scorer, [find_record(paths, candid)], saliency=saliency, patch=patch)[0]
    if output is not None:
        from .figure import draw_alert

        draw_alert(view, output)
    return view


def night_report(rows: Sequence[dict[str, Any]], out_dir: str | os.PathLike[str], *,
                 alerts: Sequence[str | os.PathLike[str]] = (), scorer: Callable[[], Scorer] | None = None,
                 store: Any = None, policy: str = "bts_p1", policies: Sequence[str] = (), jobs: int = 0,
                 title: str = "btsbot-fast night report", echo: Callable[[str], None] = lambda s: None,
                 monitor: Callable[[Path, dict[str, str]], str] | None = None) -> Path:
    """Write ``out_dir/index.html`` and its pictures for score ``rows``. ``alerts``: the packets to draw
    (each source's best alert is looked up there by candid); ``scorer()`` gives the Scorer that draws them;
    ``store``: an open autoscan state (its decisions and actions are shown); ``monitor(out_dir, links)``:
    the monitor's section (``links``: object id -> the page's link to its show picture)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    main = parse_policies([policy])[0]
    pols = parse_policies(policies)
    if main.name not in {p.name for p in pols}:
        pols.insert(0, main)
    table, sources = group_sources(rows, pols)
    if store is not None:
        read_state(store, sources, pols)
    notes = []
    figures: dict[int | None, str] = {}
    if alerts and sources:
        wanted = {s.best.candid: s for s in sources if s.best.candid is not None}
        records = {}
        for rec in iter_records(alerts):
            if rec.candid in wanted and rec.candid not in records:
                records[rec.candid] = rec
        missing = len(wanted) - len(records)
        if missing:
            notes.append(f"{missing} of {len(wanted)} best alerts were not found in the alert files given: "
                         "no picture for those sources")
        echo(f"drawing {len(records)} alerts")
        views = inspect_records(scorer(), list(records.values())) if records else []
        names = draw_pictures(views, out / PICTURE_DIR, jobs)
        for v in views:
            fig, thumb = names[id(v)]
            src = wanted[v.result.candid]
            src.figure, src.thumbnail = fig, thumb
            figures[v.result.candid] = fig
    elif sources:
        notes.append("no alert files given (--alerts): the table has no pictures")
    extra = monitor(out, {s.object_id: s.figure or f"#src-{s.object_id}" for s in sources}) if monitor else ""
    return write_page(out, render_page(table, sources, main, pols, figures, title, notes, extra))


__all__ = ["night_report", "show_alert"]
