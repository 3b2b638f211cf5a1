"""Drawing an :class:`~btsbot_fast.show.alert.AlertView`: the ``show`` figure and the thumbnail triplet.

Matplotlib (a Figure on the Agg canvas, kept per process: see :class:`_ShowFigure`) and
astropy.visualization for the scanner's stretch (zscale limits, then asinh), both from the ``[report]`` extra.
astropy is already the project's FITS reader (the raw cutouts are decoded with it), so its zscale is used rather
than a second copy.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from pathlib import Path

import numpy as np

from .. import plotting
from ..messages import plural
from ..prep.variant import STAMP_SIZE
from .alert import CHANNELS, FILTERS, AlertView, score_text

TILE_GAP = 3
BAND_COLORS = {1: "#2a9d3a", 2: "#d62728", 3: "#e0a800", None: "0.4"}
#: the figure's size in inches at FIGURE_DPI: 1400 x 820 px with the occlusion row, 1400 x 620 without
FIGURE_SIZE = (14.0, 8.2)  # with the occlusion row; 6.2 in high without it
FIGURE_DPI = 100


def require_figures(what: str = "drawing figures") -> None:
    """An ImportError naming the extra to install when matplotlib or astropy is missing."""
    plotting.require(what, astropy=True)


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


_LAST_STRETCH: list = [None, None]  # the last view and its stretched stamps


def scanner_stamps(view: AlertView) -> list[np.ndarray | None]:
    """The view's three raw cutouts through :func:`scanner_stretch` (None where missing). The last view's
    are kept: its figure and its thumbnail are drawn one after the other, and zscale is not free."""
    if _LAST_STRETCH[0] is not view:
        _LAST_STRETCH[:] = [view, [scanner_stretch(s) for s in (list(view.stamps) + [None] * 3)[:3]]]
    return _LAST_STRETCH[1]


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
    score = f"score {score_text(r.score)}" if r.score is not None else f"no score ({r.status}: {r.error})"
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


def _mosaic(tiles: list[np.ndarray | None]) -> np.ndarray:
    """Three stamps side by side with white gaps, missing ones light grey (one image per row: nine axes
    cost more than the rest of the figure)."""
    parts = []
    for i, t in enumerate(tiles):
        if i:
            parts.append(np.ones((STAMP_SIZE, TILE_GAP, 3)))
        parts.append(np.full((STAMP_SIZE, STAMP_SIZE, 3), 0.9) if t is None else _fit(t))
    # as bytes: matplotlib would otherwise check and convert a float image at every draw
    return (np.hstack(parts) * 255.0 + 0.5).astype(np.uint8)


class _StampRow:
    """One row of three stamps: an image, a caption under each stamp, "not available" over a missing one."""

    def __init__(self, ax, title: str):
        width = 3 * STAMP_SIZE + 2 * TILE_GAP
        # FITS row 0 is the bottom row: origin lower, as DS9 and the scanning pages show stamps
        self.image = ax.imshow(np.zeros((STAMP_SIZE, width, 3), dtype=np.uint8), origin="lower",
                               interpolation="nearest", aspect="equal")
        ax.set_axis_off()
        # a fixed title position (y given): matplotlib otherwise measures the axes at every draw to place it
        self.title = ax.set_title(title, fontsize=8.5, loc="left", y=1.0)
        xs = [(i * (STAMP_SIZE + TILE_GAP) + STAMP_SIZE / 2) / width for i in range(3)]
        self.labels = [ax.text(x, -0.03, "", transform=ax.transAxes, ha="center", va="top", fontsize=7.5) for x in xs]
        self.missing = [ax.text(x, 0.5, "not available", transform=ax.transAxes, ha="center", va="center", fontsize=8)
                        for x in xs]
        self.pixels = None  # where the image lands on the canvas: set by place()

    def place(self, renderer, height: int) -> None:
        """Find the image's pixels on the canvas (after a full draw at the picture's dpi) and which stamp
        pixel each of them shows (nearest neighbour, as ``interpolation="nearest"`` draws it)."""
        box = self.image.get_window_extent(renderer)
        x0, x1, y0, y1 = (int(round(v)) for v in (box.x0, box.x1, box.y0, box.y1))
        rows, cols = self.image.get_array().shape[:2]
        self.pixels = (slice(height - y1, height - y0), slice(x0, x1),
                       ((np.arange(y1 - y0) + 0.5) * rows / (y1 - y0)).astype(np.intp)[::-1],  # origin lower
                       ((np.arange(x1 - x0) + 0.5) * cols / (x1 - x0)).astype(np.intp))

    def paint(self, canvas: np.ndarray) -> None:
        """Write the image's pixels straight into the RGBA canvas: matplotlib's resampling of two small
        images costs more than all the lines of the figure."""
        ys, xs, row_of, col_of = self.pixels
        canvas[ys, xs, :3] = self.image.get_array()[row_of][:, col_of]

    def fill(self, tiles: list[np.ndarray | None], labels: list[str], title: str | None = None) -> None:
        self.image.set_data(_mosaic(tiles))
        for text, label, tile, missing in zip(self.labels, labels, tiles, self.missing):
            text.set_text(label)
            missing.set_visible(tile is None)
        if title is not None:
            self.title.set_text(title)


class _LightCurve:
    """Detections (with error bars) and upper limits per band, one artist per band and kind (a long light
    curve must not cost an artist per point), the alert itself ringed; limits and legend follow the data."""

    def __init__(self, ax):
        LineCollection = plotting.part("collections").LineCollection
        ErrorbarContainer = plotting.part("container").ErrorbarContainer
        offset_copy = plotting.part("transforms").offset_copy

        self.ax = ax
        self.bands = {}
        for fid, c in BAND_COLORS.items():
            band = FILTERS.get(fid, "?")
            det, = ax.plot([], [], "o", ms=4, color=c, zorder=3)
            bars = LineCollection([], colors=c, zorder=3)
            ax.add_collection(bars, autolim=False)
            lim, = ax.plot([], [], "v", ms=math.sqrt(18), color=c, alpha=0.45, zorder=2)  # scatter's s=18
            self.bands[fid] = (ErrorbarContainer((det, (), (bars,)), has_yerr=True, label=f"{band} detection"),
                               det, bars, lim, f"{band} upper limit")
        self.ring, = ax.plot([], [], "o", ms=math.sqrt(90), mfc="none", mec="k", mew=1.5, zorder=4)
        self.note = ax.annotate("this alert", (0, 0), xytext=(-12, 10), textcoords="offset points", fontsize=8,
                                ha="right")
        ax.invert_yaxis()
        # the axis labels at fixed places, in the figure's background (axis labels would be drawn and
        # placed against the tick labels at every draw): below the ticks, left of 4-character magnitudes
        fig = ax.get_figure()
        fig.text(0.5, 0.0, "days relative to this alert", fontsize=8, ha="center", va="top",
                 transform=offset_copy(ax.transAxes, fig, y=-20, units="points"))
        fig.text(0.0, 0.5, "magnitude", fontsize=8, ha="right", va="center", rotation=90,
                 transform=offset_copy(ax.transAxes, fig, x=-29, units="points"))
        self.legends = {}  # legend entries -> Legend: the same few combinations come back all night
        ax.tick_params(labelsize=7)
        ax.grid(True, lw=0.3)
        self.title = ax.set_title("", fontsize=8, y=1.0)

    def fill(self, view: AlertView) -> None:
        ax = self.ax
        pts = view.light_curve
        alert_jd = view.result.jd
        t0 = alert_jd if alert_jd is not None and math.isfinite(alert_jd) else (pts[-1].jd if pts else 0.0)
        limits, detections, xy = [], [], []  # legend entries: the limits first, as matplotlib orders them
        band_of = {p.fid: p.fid if p.fid in self.bands else None for p in pts}  # other filter ids: grey "?"
        for key, (container, det_line, bars, lim_line, lim_label) in self.bands.items():
            det = [(p.jd - t0, p.magpsf, p.sigmapsf or 0.0) for p in pts
                   if band_of[p.fid] == key and p.magpsf is not None]
            lim = [(p.jd - t0, p.diffmaglim) for p in pts
                   if band_of[p.fid] == key and p.magpsf is None and p.diffmaglim is not None]
            x, y, e = (np.array(v, dtype=np.float64) for v in zip(*det)) if det else (np.empty(0),) * 3
            det_line.set_data(x, y)
            bars.set_segments([[(a, b - s), (a, b + s)] for a, b, s in zip(x, y, e)])
            lx, ly = (np.array(v, dtype=np.float64) for v in zip(*lim)) if lim else (np.empty(0),) * 2
            lim_line.set_data(lx, ly)
            xy += [np.column_stack([x, y - e]), np.column_stack([x, y + e]), np.column_stack([lx, ly])]
            if lim:
                limits.append((lim_line, lim_label))
            if det:
                detections.append((container, container.get_label()))
        ring = [(p.jd - t0, p.magpsf) for p in pts if p.is_alert and p.magpsf is not None]
        self.ring.set_data([r[0] for r in ring], [r[1] for r in ring])
        # the data limits set anew (not accumulated over alerts), then matplotlib's own autoscaling
        ax.ignore_existing_data_limits = True
        points = np.concatenate(xy) if xy else np.empty((0, 2))
        if len(points):
            ax.update_datalim(points)
        else:
            ax.dataLim.set_points(np.array([[0.0, 0.0], [1.0, 1.0]]))
        ax.autoscale_view()
        self.note.set_visible(bool(ring))
        if ring:
            self._place_note(ring[-1])
        ndet = sum(p.magpsf is not None for p in pts)
        self.title.set_text(f"light curve: {plural(ndet, 'detection')}, {plural(len(pts) - ndet, 'upper limit')} "
                            "(prv_candidates + alert)")
        entries = limits + detections
        key = tuple(label for _, label in entries)
        if entries and key not in self.legends:
            Legend = plotting.part("legend").Legend

            # "upper left": "best" searches positions, slow
            self.legends[key] = Legend(ax, *zip(*entries), fontsize=7, loc="upper left", ncol=2)
        ax.legend_ = self.legends.get(key)

    def _place_note(self, xy: tuple[float, float]) -> None:
        """"this alert" level with the ringed point, on the side towards the middle of the axes: the alert
        is often the newest (right edge) and brightest (top) point, where a label above it left the axes."""
        fx = self.ax.transLimits.transform(xy)[0]  # axes fraction
        right = fx > 0.5
        self.note.xy = xy
        self.note.set_position((-9 if right else 9, 0))
        self.note.set_horizontalalignment("right" if right else "left")
        self.note.set_verticalalignment("center")


class _FeatureTable:
    """The features in two columns, names and values as separate monospace text blocks: the names (starred
    when the model does not take them) are the same for every alert of a model, so they are part of the
    figure's background; only the values (right-aligned, as a 28-character table) are drawn per alert.
    One text artist per block: drawing 50 small ones costs more than the rest of the figure."""

    WIDTH = 28  # characters: a 16-character name column, then values right-aligned in 12

    def __init__(self, ax, renderer):
        FontProperties = plotting.part("font_manager").FontProperties
        offset_copy = plotting.part("transforms").offset_copy

        ax.axis("off")
        style = {"fontsize": 8.5, "family": "monospace", "va": "top", "linespacing": 1.35}
        width_px = renderer.get_text_width_height_descent("0" * self.WIDTH, FontProperties(family="monospace",
                                                                                          size=8.5), ismath=False)[0]
        shift = width_px * 72.0 / ax.get_figure().dpi  # points: follows the dpi a picture is drawn at
        self.names = [ax.text(col * 0.5, 1.0, "", transform=ax.transAxes, **style) for col in range(2)]
        self.values = [ax.text(col * 0.5, 1.0, "", ha="right", transform=offset_copy(ax.transAxes, ax.get_figure(),
                                                                                      x=shift, units="points"),
                               animated=True, **style) for col in range(2)]
        self.title = ax.set_title("", fontsize=8, y=1.0)
        self.static_key = None

    def fill(self, view: AlertView) -> None:
        items = view.feature_items
        used = set(view.model_features)
        half = (len(items) + 1) // 2
        names = []
        for name_text, value_text, chunk in zip(self.names, self.values, (items[:half], items[half:])):
            names.append("\n".join(name + ("" if name in used else "*") for name, _ in chunk))
            name_text.set_text(names[-1])
            value_text.set_text("\n".join(_fmt(value) for _, value in chunk))
        note = "" if used >= {n for n, _ in items} else " (* not a model input)"
        self.title.set_text(f"the {len(items)} features{note}")
        self.static_key = (tuple(names), note)


class _ShowFigure:
    """The ``show`` figure's layout and artists, built once per process (and per height: with or without
    the occlusion row) and refilled for each alert. What is the same for every alert (panel titles, the
    feature names, the empty axes) is drawn once into a background per dpi; each picture restores it and
    draws only what changes: images, texts and the light-curve axes (its ticks follow the data). Building
    axes and drawing text are most of the cost, and a night page draws hundreds of these figures.
    Not thread-safe (matplotlib is not): one per process."""

    def __init__(self, rows: int):
        FigureCanvasAgg = plotting.part("backends.backend_agg").FigureCanvasAgg
        Figure = plotting.part("figure").Figure

        self.rows = rows
        fig = self.fig = Figure(figsize=(FIGURE_SIZE[0], FIGURE_SIZE[1] - (2.0 if rows == 2 else 0.0)), dpi=FIGURE_DPI)
        FigureCanvasAgg(fig)
        gs = fig.add_gridspec(rows + 1, 5, height_ratios=[0.18] + [1.0] * rows, width_ratios=[1, 1, 1, 1.6, 1.6],
                              left=0.02, right=0.99, top=0.97, bottom=0.07, wspace=0.25, hspace=0.38)
        head = fig.add_subplot(gs[0, :])
        head.axis("off")
        self.title = head.text(0, 0.75, "", fontsize=11, weight="bold", transform=head.transAxes)
        self.status = head.text(0, 0.05, "", fontsize=8, transform=head.transAxes)
        self.model = _StampRow(fig.add_subplot(gs[1, 0:3]),
                               "model input (after preprocessing; each channel shown over its own range)")
        self.scanner = _StampRow(fig.add_subplot(gs[2, 0:3]), "as a scanner sees it (raw cutout, zscale + asinh)")
        rows_drawn = [self.model, self.scanner]
        self.occlusion = self.method = self.faint = None
        self.key_labels = []
        if rows == 3:
            occ_ax = fig.add_subplot(gs[3, 0:3])
            self.occlusion = _StampRow(occ_ax, "")
            self.method = fig.text(0.02, 0.027, "", fontsize=8)
            self.faint = fig.text(0.02, 0.006, "", fontsize=8, style="italic", color="#8b0000")
            rows_drawn.append(self.occlusion)
            self.key_labels = self._colour_key(occ_ax)
        right = gs[1:, 3:5].subgridspec(2, 1, height_ratios=[1.15, 1.0], hspace=0.42)
        self.light_curve = _LightCurve(fig.add_subplot(right[0, 0]))
        self.features = _FeatureTable(fig.add_subplot(right[1, 0]), fig.canvas.get_renderer())
        self.stamp_rows = rows_drawn
        for row in rows_drawn:  # painted by hand (_StampRow.paint), never drawn by matplotlib
            row.image.set_animated(True)
        # drawn by matplotlib for every alert, in this order, after the stamps are painted
        self.dynamic = ([self.title, self.status]
                        + [t for r in rows_drawn for t in r.labels + r.missing] + self.features.values
                        + [self.light_curve.ax])
        if self.occlusion is not None:
            self.dynamic += [self.occlusion.title, self.method, self.faint, *self.key_labels]
        for artist in self.dynamic:
            artist.set_animated(True)
        self.background = None
        self.background_key = None

    def _colour_key(self, occ_ax) -> list:
        """A colour bar right of the occlusion row, in the background (the same for every alert): red at
        the top (masking lowers the score), grey in the middle, blue at the bottom. Returns its three
        scale labels, set per alert (the scale follows the largest change)."""
        fig = self.fig
        occ_ax.apply_aspect()  # where the stamps really are (equal aspect shrinks the axes)
        box = occ_ax.get_position()
        key = fig.add_axes((box.x1 + 0.006, box.y0, 0.008, box.height))
        ramp = plotting.matplotlib().colormaps["RdBu_r"](np.linspace(0.0, 1.0, 128))[:, None, :3] * 0.75 + 0.5 * 0.25
        key.imshow(ramp, origin="lower", aspect="auto", interpolation="nearest")
        key.set_xticks([])
        key.set_yticks([])
        x = box.x1 + 0.017
        return [fig.text(x, y, "", va=va, fontsize=7, linespacing=1.05)
                for y, va in ((box.y1, "top"), (box.y0 + box.height / 2, "center"), (box.y0, "bottom"))]

    def fill(self, view: AlertView) -> None:
        self.title.set_text(title_text(view))
        r = view.result
        self.status.set_text(f"{verdict_text(view)}    status {r.status}    source {r.source}[{r.record_index}]")
        model = view.triplet
        chans = [None if model is None else model[:, :, c] for c in range(3)]
        self.model.fill([_gray(m) for m in chans],
                        [name if m is None else f"{name} [{m.min():.3g}, {m.max():.3g}]"
                         for name, m in zip(CHANNELS, chans)])
        errors = list(view.stamp_errors) + [""] * 3
        self.scanner.fill([_gray(s) for s in scanner_stamps(view)],
                          [f"{name}: {err}" if err else name for name, err in zip(CHANNELS, errors)])
        if self.occlusion is not None:
            occ = view.occlusion
            lim = max(occ.largest, 1e-6)
            cmap = plotting.matplotlib().colormaps["RdBu_r"]
            tiles = [cmap(np.clip(occ.full(c) / lim * 0.5 + 0.5, 0, 1))[..., :3] * 0.75 + _gray(chans[c]) * 0.25
                     for c in range(3)]
            self.occlusion.fill(tiles, [f"{n}: max drop {occ.drop[c].max():+.3g}" for c, n in enumerate(CHANNELS)],
                                "occlusion saliency: red = masking the patch lowers the score, blue = raises it, "
                                "grey = no change")
            key_values = (f"+{occ.largest:.2g}\n(score\ndrops)", "0", f"(score\nrises)\n\u2212{occ.largest:.2g}")
            for text, value in zip(self.key_labels, key_values):
                text.set_text(value)
            self.method.set_text(occ.method)
            self.faint.set_text(occ.note)
        self.light_curve.fill(view)
        self.features.fill(view)

    def render(self, view: AlertView, dpi: int) -> np.ndarray:
        """The figure of ``view`` as RGBA pixels (height, width, 4), a view of the canvas."""
        self.fill(view)
        fig, canvas = self.fig, self.fig.canvas
        key = (dpi, self.features.static_key)
        if key != self.background_key:
            fig.set_dpi(dpi)
            canvas.draw()  # everything but the animated (per-alert) artists
            self.background, self.background_key = canvas.copy_from_bbox(fig.bbox), key
            for row in self.stamp_rows:
                row.place(canvas.get_renderer(), canvas.get_width_height()[1])
        else:
            canvas.restore_region(self.background)
        pixels = np.asarray(canvas.buffer_rgba())
        for row in self.stamp_rows:  # first: the texts over a missing stamp go on top
            row.paint(pixels)
        for artist in self.dynamic:
            fig.draw_artist(artist)
        return pixels


_FIGURES: dict[int, _ShowFigure] = {}


def _write_png(path: Path, rgba: np.ndarray, level: int = 3) -> None:
    """An RGBA canvas as an 8-bit RGB PNG, rows unfiltered. Pillow (matplotlib's writer) tries five
    filters on every row: about 17 ms a picture against 9 ms here, and a plot's flat colours compress as
    well without (the same size within a few %)."""
    import struct
    import zlib

    h, w = rgba.shape[:2]
    rows = np.zeros((h, 1 + 3 * w), dtype=np.uint8)  # each row: filter type 0, then R G B per pixel
    rows[:, 1:] = rgba[..., :3].reshape(h, 3 * w)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows.tobytes(), level)) + chunk(b"IEND", b""))


def draw_alert(view: AlertView, path: str | os.PathLike[str], dpi: int = FIGURE_DPI) -> Path:
    """Write the ``show`` figure of one alert as a PNG (at least 800 x 500 px)."""
    rows = 3 if view.occlusion is not None else 2
    if rows not in _FIGURES:
        _FIGURES[rows] = _ShowFigure(rows)
    pixels = _FIGURES[rows].render(view, dpi)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_png(out, pixels)
    return out


def triplet_thumbnail(view: AlertView, path: str | os.PathLike[str], size: int = 63) -> Path:
    """The science / template / difference stamps side by side as a scanner sees them (zscale + asinh),
    written straight to a PNG (no figure: fast enough for every source of a night)."""
    imsave = plotting.part("image").imsave

    tiles = []
    for s in scanner_stamps(view):
        tile = np.full((size, size), 0.5)
        if s is not None:
            s = s[::-1][:size, :size]  # origin lower, as in the figure
            tile[: s.shape[0], : s.shape[1]] = s
        tiles.append(tile)
        tiles.append(np.ones((size, 2)))  # a white gap
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    imsave(out, np.hstack(tiles[:-1]), cmap="gray", vmin=0.0, vmax=1.0)
    return out


__all__ = ["FIGURE_DPI", "FIGURE_SIZE", "draw_alert", "require_figures", "scanner_stamps", "scanner_stretch",
           "triplet_thumbnail",
           "verdict_text"]
