"""Drawing an :class:`~btsbot_fast.show.alert.AlertView`: the ``show`` figure and the thumbnail triplet.

Matplotlib (Agg, via btsbot_fast/evaluate/figures.py) and astropy.visualization for the scanner's
stretch (zscale limits, then asinh), both from the ``[report]`` extra. astropy is already the project's
FITS reader (the raw cutouts are decoded with it), so its zscale is used rather than a second copy.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np

from .alert import CHANNELS, FILTERS, AlertView

REPORT_HINT = "pip install 'btsbot-fast[report]'"
BAND_COLORS = {1: "#2a9d3a", 2: "#d62728", 3: "#e0a800", None: "0.4"}
#: the figure's size in inches at FIGURE_DPI: 1400 x 820 px with the occlusion row, 1400 x 620 without
FIGURE_SIZE = (14.0, 8.2)  # with the occlusion row; 6.2 in high without it
FIGURE_DPI = 100


def require_figures(what: str = "figures") -> None:
    """An ImportError naming the extra to install when matplotlib or astropy is missing."""
    try:
        import astropy.visualization  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{what} need matplotlib and astropy ({exc.name} is missing): {REPORT_HINT}") from None


def scanner_stretch(image: np.ndarray | None) -> np.ndarray | None:
    """A raw cutout as a scanner looks at it: zscale limits (IRAF's algorithm, astropy), then an asinh
    stretch; values in [0, 1], NaN pixels shown at 0."""
    if image is None:
        return None
    from astropy.visualization import AsinhStretch, ZScaleInterval

    data = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    vmin, vmax = ZScaleInterval().get_limits(data)
    if not vmax > vmin:
        return np.zeros_like(data)
    x = np.clip((data - vmin) / (vmax - vmin), 0.0, 1.0)
    return np.asarray(AsinhStretch(a=0.1)(x, clip=True))


def jd_utc(jd: float | None) -> str:
    if jd is None or not math.isfinite(jd):
        return "date unknown"
    t = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=(jd - 2440587.5) * 86400.0)
    return f"{t:%Y-%m-%d %H:%M:%S} UTC"


def _fmt(v: float | None) -> str:
    if v is None:
        return "—"
    if not math.isfinite(v):
        return str(v)
    return f"{v:.6g}" if abs(v) >= 1e-3 or v == 0 else f"{v:.3e}"


def verdict_text(view: AlertView) -> str:
    """The BTS filter's verdict as the scorer reported it (``bts_candidate``/``bts_reject``)."""
    cand = view.bts_candidate
    if cand is None:
        return "BTS filter: not evaluated" + (f" ({view.bts_reject})" if view.bts_reject else "")
    return "BTS filter: candidate" if cand else f"BTS filter: rejected ({view.bts_reject or 'no reason given'})"


def title_text(view: AlertView) -> str:
    r = view.result
    score = f"score {r.score:.4f}" if r.score is not None else f"no score ({r.status}: {r.error})"
    return (f"{r.objectId or '?'}   candid {r.candid}   {jd_utc(r.jd)}   {score}   "
            f"model {r.model} {r.model_version}")


def _image(ax, data, title: str, cmap: str = "gray", **kw) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8)
    if data is None:
        ax.text(0.5, 0.5, "not available", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        ax.set_facecolor("0.9")
        return
    # FITS row 0 is the bottom row: origin lower, as DS9 and the scanning pages show stamps
    ax.imshow(data, cmap=cmap, origin="lower", interpolation="nearest", **kw)


def _light_curve(ax, view: AlertView) -> None:
    pts = view.light_curve
    alert_jd = view.result.jd
    t0 = alert_jd if alert_jd is not None and math.isfinite(alert_jd) else (pts[-1].jd if pts else 0.0)
    seen = set()
    for p in pts:
        c = BAND_COLORS.get(p.fid, "0.4")
        band = FILTERS.get(p.fid, "?")
        x = p.jd - t0
        if p.magpsf is not None:
            label = f"{band} detection" if (band, "d") not in seen else None
            seen.add((band, "d"))
            ax.errorbar(x, p.magpsf, yerr=p.sigmapsf or 0.0, fmt="o", ms=7 if p.is_alert else 4, color=c,
                        mec="k" if p.is_alert else c, mew=1.5 if p.is_alert else 0.5, label=label, zorder=3)
            if p.is_alert:
                ax.annotate("this alert", (x, p.magpsf), xytext=(-12, 10), textcoords="offset points", fontsize=8,
                            ha="right")
        elif p.diffmaglim is not None:
            label = f"{band} upper limit" if (band, "u") not in seen else None
            seen.add((band, "u"))
            ax.scatter(x, p.diffmaglim, marker="v", s=18, color=c, alpha=0.45, label=label, zorder=2)
    ax.invert_yaxis()
    ax.set_xlabel("days relative to this alert", fontsize=8)
    ax.set_ylabel("magnitude", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, lw=0.3)
    ndet = sum(p.magpsf is not None for p in pts)
    ax.set_title(f"light curve: {ndet} detections, {len(pts) - ndet} upper limits (prv_candidates + alert)",
                 fontsize=8)
    if seen:
        ax.legend(fontsize=7, loc="best", ncol=2)


def _feature_table(ax, view: AlertView) -> None:
    """Two monospace text blocks (one text artist per column: drawing 50 small ones costs more than the
    rest of the figure); features the model does not take are starred."""
    ax.axis("off")
    items = view.feature_items
    used = set(view.model_features)
    half = (len(items) + 1) // 2
    for col, chunk in enumerate((items[:half], items[half:])):
        lines = [f"{name + ('' if name in used else '*'):<16}{_fmt(value):>12}" for name, value in chunk]
        ax.text(col * 0.5, 1.0, "\n".join(lines), fontsize=8.5, family="monospace", va="top", linespacing=1.35,
                transform=ax.transAxes)
    note = "" if used >= {n for n, _ in items} else " (* not a model input)"
    ax.set_title(f"the {len(items)} features{note}", fontsize=8)


def draw_alert(view: AlertView, path: str | os.PathLike[str], dpi: int = FIGURE_DPI) -> Path:
    """Write the ``show`` figure of one alert as a PNG (at least 800 x 500 px)."""
    from ..evaluate.figures import pyplot

    plt = pyplot()  # astropy is needed only for raw cutouts (scanner_stretch)
    rows = 3 if view.occlusion is not None else 2
    fig = plt.figure(figsize=(FIGURE_SIZE[0], FIGURE_SIZE[1] - (2.0 if rows == 2 else 0.0)))
    gs = fig.add_gridspec(rows + 1, 5, height_ratios=[0.18] + [1.0] * rows, width_ratios=[1, 1, 1, 1.6, 1.6],
                          left=0.02, right=0.99, top=0.97, bottom=0.06, wspace=0.25, hspace=0.32)
    head = fig.add_subplot(gs[0, :])
    head.axis("off")
    head.text(0, 0.75, title_text(view), fontsize=11, weight="bold", transform=head.transAxes)
    status = view.result.status
    head.text(0, 0.05, f"{verdict_text(view)}    status {status}    source {view.result.source}"
              f"[{view.result.record_index}]", fontsize=8, transform=head.transAxes)
    model = view.triplet
    for c, name in enumerate(CHANNELS):
        m = None if model is None else model[:, :, c]
        rng = "" if m is None else f" [{m.min():.3g}, {m.max():.3g}]"
        _image(fig.add_subplot(gs[1, c]), m, f"model input: {name}{rng}", cmap="gray")
        raw = view.stamps[c] if c < len(view.stamps) else None
        err = view.stamp_errors[c] if c < len(view.stamp_errors) else ""
        _image(fig.add_subplot(gs[2, c]), scanner_stretch(raw), f"scanner: {name} (zscale, asinh)"
               + (f"\n{err}" if err else ""))
    if view.occlusion is not None:
        occ = view.occlusion
        lim = max(float(np.abs(occ.drop).max()), 1e-6)
        for c, name in enumerate(CHANNELS):
            ax = fig.add_subplot(gs[3, c])
            _image(ax, occ.full(c), f"occlusion: {name}", cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.imshow(model[:, :, c], cmap="gray", origin="lower", alpha=0.25, interpolation="nearest")
        fig.text(0.02, 0.015, occ.method + f"; colour range ±{lim:.3g}", fontsize=8)
    right = gs[1:, 3:5].subgridspec(2, 1, height_ratios=[1.15, 1.0], hspace=0.3)
    _light_curve(fig.add_subplot(right[0, 0]), view)
    _feature_table(fig.add_subplot(right[1, 0]), view)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    # zlib level 3: a third of the encoding time of the default 6 for a few % more bytes
    fig.savefig(out, dpi=dpi, pil_kwargs={"compress_level": 3})
    plt.close(fig)
    return out


def triplet_thumbnail(view: AlertView, path: str | os.PathLike[str], size: int = 63) -> Path:
    """The science / template / difference stamps side by side as a scanner sees them (zscale + asinh),
    written straight to a PNG (no figure: fast enough for every source of a night)."""
    from ..evaluate.figures import pyplot

    plt = pyplot()
    tiles = []
    for c in range(3):
        raw = view.stamps[c] if c < len(view.stamps) else None
        s = scanner_stretch(raw)
        tile = np.full((size, size), 0.5)
        if s is not None:
            s = s[::-1][:size, :size]  # origin lower, as in the figure
            tile[: s.shape[0], : s.shape[1]] = s
        tiles.append(tile)
        tiles.append(np.ones((size, 2)))  # a white gap
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(out, np.hstack(tiles[:-1]), cmap="gray", vmin=0.0, vmax=1.0)
    return out


__all__ = ["FIGURE_DPI", "FIGURE_SIZE", "draw_alert", "require_figures", "scanner_stretch", "triplet_thumbnail",
           "verdict_text"]
