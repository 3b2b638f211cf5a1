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

from ..prep.variant import STAMP_SIZE
from .alert import CHANNELS, FILTERS, AlertView

REPORT_HINT = "pip install 'btsbot-fast[report]'"
TILE_GAP = 3
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


def _fit(rgb: np.ndarray) -> np.ndarray:
    """A tile padded (light grey) to the stamp size: stamps at a CCD edge are smaller."""
    h, w = rgb.shape[:2]
    if (h, w) == (STAMP_SIZE, STAMP_SIZE):
        return rgb
    out = np.full((STAMP_SIZE, STAMP_SIZE, 3), 0.9)
    out[:min(h, STAMP_SIZE), :min(w, STAMP_SIZE)] = rgb[:STAMP_SIZE, :STAMP_SIZE]
    return out


def _gray(x: np.ndarray | None) -> np.ndarray | None:
    """A channel scaled to its own range, as RGB in [0, 1]."""
    if x is None:
        return None
    lo, hi = float(np.min(x)), float(np.max(x))
    y = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return np.repeat(np.asarray(y, dtype=np.float64)[..., None], 3, axis=2)


def _row(ax, tiles: list[np.ndarray | None], labels: list[str], title: str) -> None:
    """Three stamps side by side in one axes (one image: nine axes cost more than the rest of the figure)."""
    parts = []
    for i, t in enumerate(tiles):
        if i:
            parts.append(np.ones((STAMP_SIZE, TILE_GAP, 3)))
        parts.append(np.full((STAMP_SIZE, STAMP_SIZE, 3), 0.9) if t is None else _fit(t))
    # FITS row 0 is the bottom row: origin lower, as DS9 and the scanning pages show stamps
    ax.imshow(np.hstack(parts), origin="lower", interpolation="nearest", aspect="equal")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8.5, loc="left")
    width = 3 * STAMP_SIZE + 2 * TILE_GAP
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x = (i * (STAMP_SIZE + TILE_GAP) + STAMP_SIZE / 2) / width
        ax.text(x, -0.03, label, transform=ax.transAxes, ha="center", va="top", fontsize=7.5)
        if tile is None:
            ax.text(x, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", fontsize=8)


def _light_curve(ax, view: AlertView) -> None:
    """Detections (with errors) and upper limits per band, one artist per band and kind (a long light
    curve must not cost an artist per point), the alert itself ringed."""
    pts = view.light_curve
    alert_jd = view.result.jd
    t0 = alert_jd if alert_jd is not None and math.isfinite(alert_jd) else (pts[-1].jd if pts else 0.0)
    for fid in sorted({p.fid for p in pts}, key=lambda f: (f is None, f or 0)):
        c = BAND_COLORS.get(fid, "0.4")
        band = FILTERS.get(fid, "?")
        det = [p for p in pts if p.fid == fid and p.magpsf is not None]
        lim = [p for p in pts if p.fid == fid and p.magpsf is None and p.diffmaglim is not None]
        if det:
            ax.errorbar([p.jd - t0 for p in det], [p.magpsf for p in det], yerr=[p.sigmapsf or 0.0 for p in det],
                        fmt="o", ms=4, color=c, label=f"{band} detection", zorder=3)
        if lim:
            ax.scatter([p.jd - t0 for p in lim], [p.diffmaglim for p in lim], marker="v", s=18, color=c, alpha=0.45,
                       label=f"{band} upper limit", zorder=2)
    for p in pts:
        if p.is_alert and p.magpsf is not None:
            ax.scatter([p.jd - t0], [p.magpsf], s=90, facecolors="none", edgecolors="k", linewidths=1.5, zorder=4)
            ax.annotate("this alert", (p.jd - t0, p.magpsf), xytext=(-12, 10), textcoords="offset points",
                        fontsize=8, ha="right")
    ax.invert_yaxis()
    ax.set_xlabel("days relative to this alert", fontsize=8)
    ax.set_ylabel("magnitude", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, lw=0.3)
    ndet = sum(p.magpsf is not None for p in pts)
    ax.set_title(f"light curve: {ndet} detections, {len(pts) - ndet} upper limits (prv_candidates + alert)",
                 fontsize=8)
    if pts:
        ax.legend(fontsize=7, loc="upper left", ncol=2)  # "best" searches positions: slow


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
                          left=0.02, right=0.99, top=0.97, bottom=0.07, wspace=0.25, hspace=0.38)
    head = fig.add_subplot(gs[0, :])
    head.axis("off")
    head.text(0, 0.75, title_text(view), fontsize=11, weight="bold", transform=head.transAxes)
    status = view.result.status
    head.text(0, 0.05, f"{verdict_text(view)}    status {status}    source {view.result.source}"
              f"[{view.result.record_index}]", fontsize=8, transform=head.transAxes)
    model = view.triplet
    chans = [None if model is None else model[:, :, c] for c in range(3)]
    _row(fig.add_subplot(gs[1, 0:3]), [_gray(m) for m in chans],
         [name if m is None else f"{name} [{m.min():.3g}, {m.max():.3g}]" for name, m in zip(CHANNELS, chans)],
         "model input (after preprocessing; each channel shown over its own range)")
    errors = list(view.stamp_errors) + [""] * 3
    _row(fig.add_subplot(gs[2, 0:3]), [_gray(scanner_stretch(s)) for s in (list(view.stamps) + [None] * 3)[:3]],
         [f"{name}: {err}" if err else name for name, err in zip(CHANNELS, errors)],
         "as a scanner sees it (raw cutout, zscale + asinh)")
    if view.occlusion is not None:
        import matplotlib

        occ = view.occlusion
        lim = max(float(np.abs(occ.drop).max()), 1e-6)
        cmap = matplotlib.colormaps["RdBu_r"]
        tiles = [cmap(np.clip(occ.full(c) / lim * 0.5 + 0.5, 0, 1))[..., :3] * 0.75 + _gray(chans[c]) * 0.25
                 for c in range(3)]
        _row(fig.add_subplot(gs[3, 0:3]), tiles, [f"{n}: max drop {occ.drop[c].max():+.3g}" for c, n in enumerate(CHANNELS)],
             f"occlusion saliency: red = the score drops when the patch is masked (±{lim:.3g} full scale)")
        fig.text(0.02, 0.015, occ.method, fontsize=8)
    right = gs[1:, 3:5].subgridspec(2, 1, height_ratios=[1.15, 1.0], hspace=0.42)
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
