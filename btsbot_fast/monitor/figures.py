"""The monitor's PNGs: the seed paper's Figure 3 for the live decisions (completeness and purity per
peak-magnitude bin; the histogram of delays against the scanners, with its median), and purity per week
over the season (drift). matplotlib (the ``[report]`` extra) on the Agg canvas, files only: every figure
is made by :func:`_figure`, through the package's one gate to matplotlib (btsbot_fast/plotting.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import plotting
from ..messages import install_hint

MPL_HINT = "the monitor's figures need matplotlib: " + install_hint("monitor") + " (or --no-figures)"
DPI = 110
FIGURE3 = "figure3_{policy}.png"
WEEKLY = "purity_weekly.png"


def require_matplotlib() -> None:
    try:
        plotting.matplotlib()
    except ImportError:
        raise ImportError(MPL_HINT) from None


def _figure(width: float, height: float, ncols: int = 1) -> tuple[Any, Any]:
    """A Figure on the Agg canvas (no display, no global pyplot state) and its axes."""
    Figure = plotting.part("figure").Figure
    FigureCanvasAgg = plotting.part("backends.backend_agg").FigureCanvasAgg

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols)


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)
    return path


def figure3(policy: str, bins: Sequence[Mapping[str, Any]], figures: Mapping[str, Any], delays: Sequence[float],
            bright_mag: float, path: Path) -> Path:
    """Left: completeness and purity per peak-magnitude bin (with the sources per bin); right: the delays
    against the scanners' save, median marked."""
    fig, (left, right) = _figure(11.0, 4.2, ncols=2)
    mids = [(b["lo"] + b["hi"]) / 2 for b in bins]
    comp = [np.nan if b["completeness"] is None else b["completeness"] for b in bins]
    pur = [np.nan if b["purity"] is None else b["purity"] for b in bins]
    left.plot(mids, comp, "o-", color="#26547C", label=f"completeness (BTS, peak ≤ {bright_mag:g})")
    left.plot(mids, pur, "s--", color="#EF476F", label="purity (decided, classified)")
    for x, b in zip(mids, bins):
        if b["bts_bright"] or b["classified"]:
            left.annotate(f"{b['bts_bright']}/{b['classified']}", (x, 0.02), ha="center", fontsize=7, color="#555")
    left.axvline(bright_mag, color="#999", ls=":", lw=1)
    left.set_ylim(0, 1.05)
    left.set_xlabel("peak magnitude (labels: bright BTS sources / classified decisions per bin)")
    left.set_ylabel("fraction")
    c, p = figures["completeness"], figures["purity"]
    left.set_title(f"{policy}: completeness {_pct(c)}, purity {_pct(p)} "
                   f"({figures['real']}/{figures['classified']} real)", fontsize=9, loc="left")
    left.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 0.06))
    if delays:
        d = np.asarray(delays, dtype=np.float64)
        span = max(float(np.max(np.abs(d))), 0.5)
        right.hist(d, bins=np.linspace(-span, span, 31), color="#26547C", alpha=0.85)
        med = float(np.median(d))
        right.axvline(med, color="#EF476F", lw=2, label=f"median {med:+.2f} d ({abs(med) * 24:.1f} h "
                                                         f"{'earlier' if med < 0 else 'later'})")
        right.axvline(0, color="#999", ls=":", lw=1)
        right.legend(fontsize=8, loc="upper right")
    else:
        right.text(0.5, 0.5, "no decided source saved by the scanners yet", ha="center", va="center",
                   transform=right.transAxes, color="#555")
    right.set_xlabel("decision's alert jd − scanners' save (days; < 0: the bot was earlier)")
    right.set_ylabel("sources")
    right.yaxis.set_major_locator(plotting.part("ticker").MaxNLocator(integer=True))
    right.set_title(f"{policy}: delay against the scanners (n = {len(delays)})", fontsize=9, loc="left")
    return _save(fig, path)


def weekly(weeks: Mapping[str, Sequence[Mapping[str, Any]]], threshold: float | None, path: Path) -> Path:
    """Purity per week, one line per policy; the alert threshold dashed."""
    fig, ax = _figure(9.0, 3.6)
    labels = sorted({w["start"] for ws in weeks.values() for w in ws})
    x_of = {s: i for i, s in enumerate(labels)}
    for policy, ws in sorted(weeks.items()):
        xs = [x_of[w["start"]] for w in ws if w["purity"] is not None]
        ys = [w["purity"] for w in ws if w["purity"] is not None]
        if xs:
            ax.plot(xs, ys, "o-", label=policy)
            for w in ws:
                if w["purity"] is not None:
                    ax.annotate(f"{w['real']}/{w['classified']}", (x_of[w["start"]], w["purity"]),
                                textcoords="offset points", xytext=(0, 6), ha="center", fontsize=7, color="#555")
    if threshold is not None:
        ax.axhline(threshold, color="#999", ls="--", lw=1, label=f"alert below {threshold:g}")
    ax.set_xticks(range(len(labels)), [f"week of {s}" for s in labels], rotation=30, ha="right", fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("purity (labels: real / classified)")
    ax.set_title("purity of the decisions per week (drift)", fontsize=9, loc="left")
    if not labels:
        ax.text(0.5, 0.5, "no decision yet", ha="center", va="center", transform=ax.transAxes, color="#555")
    elif ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower left")
    return _save(fig, path)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def draw_all(result: Mapping[str, Any], delays: Mapping[str, Sequence[float]], out_dir: Path,
             threshold: float | None) -> list[Path]:
    """Every figure of a monitor result into ``out_dir``; returns their paths."""
    out = []
    for policy, figs in result["policies"].items():
        out.append(figure3(policy, result["per_peakmag"][policy], figs, delays.get(policy, []), result["bright_mag"],
                           out_dir / FIGURE3.format(policy=safe_name(policy))))
    out.append(weekly(result["weekly"], threshold, out_dir / WEEKLY))
    return out


def safe_name(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)


__all__ = ["FIGURE3", "MPL_HINT", "WEEKLY", "draw_all", "figure3", "require_matplotlib", "safe_name", "weekly"]
