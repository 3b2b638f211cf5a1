"""PNG figures for ``btsbot-fast evaluate`` (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import pyplot, save

COLORS = {"tp": "#26547C", "fp": "#A9BCD0", "tn": "#BA5A31", "fn": "#E59F71"}




def _fmt(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def roc_figure(path: Path, fpr: np.ndarray, tpr: np.ndarray, auc: float, title: str = "") -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="k", lw=1, ls="--")
    ax.plot(fpr, tpr, lw=2, label=f"ROC (AUC = {_fmt(auc)})")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="False positive rate", ylabel="True positive rate",
           title=title or "Alert-level ROC")
    ax.legend(loc="lower right")
    ax.grid(True, lw=0.3)
    return save(plt, fig, path)


def magpsf_bars_figure(path: Path, alert: dict[str, Any]) -> Path:
    """Stacked TP/FP/TN/FN counts per PSF-magnitude bin, with accuracy/precision/recall per bin."""
    plt = pyplot()
    bins = alert["by_magpsf"]
    labels = [(f"<{b['hi']:g}" if b["lo"] is None else f"≥{b['lo']:g}" if b["hi"] is None else f"{b['lo']:g}")
              for b in bins]
    x = np.arange(len(bins))
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 7), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    bottom = np.zeros(len(bins))
    for k in ("tp", "fp", "tn", "fn"):
        v = np.array([b[k] for b in bins], dtype=float)
        ax.bar(x, v, bottom=bottom, color=COLORS[k], label=k.upper(), edgecolor="k", linewidth=0.2, width=0.9)
        bottom += v
    ax.set_ylabel("alerts")
    ax.legend(ncol=4, frameon=False)
    ax.set_title(f"Alert level (threshold {alert['threshold']:g}): accuracy {_fmt(alert['accuracy'])}, "
                 f"precision {_fmt(alert['precision'])}, recall {_fmt(alert['recall'])}, "
                 f"ROC AUC {_fmt(alert['roc_auc'])}", fontsize=9)
    for k, style in (("accuracy", "o-"), ("precision", "s-"), ("recall", "^-")):
        v = np.array([np.nan if b[k] is None else b[k] for b in bins], dtype=float)
        ax2.plot(x, v, style, label=k)
    ax2.set_ylim(-0.02, 1.05)
    ax2.set_ylabel("fraction")
    ax2.legend(ncol=3, frameon=False, fontsize=8)
    ax2.grid(True, lw=0.3)
    ax2.set_xticks(x)
    ax2.set_xticklabels(labels, rotation=45)
    ax2.set_xlabel("PSF magnitude bin (lower edge)")
    return save(plt, fig, path)


def score_hist_figure(path: Path, labels: np.ndarray, scores: np.ndarray, threshold: float) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    bins = np.linspace(0, 1, 41)
    y = np.asarray(labels).astype(bool)
    ax.hist(scores[~y], bins=bins, alpha=0.6, label=f"label 0 ({int((~y).sum())})", color=COLORS["tn"])
    ax.hist(scores[y], bins=bins, alpha=0.6, label=f"label 1 ({int(y.sum())})", color=COLORS["tp"])
    ax.axvline(threshold, color="k", ls="--", lw=1)
    ax.set(xlabel="score", ylabel="alerts", yscale="log", title="Score distribution by label")
    ax.legend()
    return save(plt, fig, path)


def source_bins_figure(path: Path, source: dict[str, Any]) -> Path:
    """Completeness and purity per peak-magnitude bin, one panel per policy."""
    plt = pyplot()
    names = list(source)
    ncol = min(3, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names):
        m = source[name]
        bins = m["by_peakmag"]
        centres = [(b["lo"] + b["hi"]) / 2 for b in bins]
        comp = [np.nan if b["completeness"] is None else b["completeness"] for b in bins]
        pur = [np.nan if b["purity"] is None else b["purity"] for b in bins]
        ax.plot(centres, comp, "o-", label=f"completeness ({_fmt(m['completeness'])})")
        ax.plot(centres, pur, "s-", label=f"purity ({_fmt(m['purity'])})")
        ax.set_ylim(-0.02, 1.05)
        ax.set_xlim(bins[0]["lo"], bins[-1]["hi"])
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("peak magnitude")
        ax.grid(True, lw=0.3)
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.suptitle("Source level: completeness and purity per peak-magnitude bin (overall in legend)", fontsize=10)
    return save(plt, fig, path)


def delay_figure(path: Path, source: dict[str, Any]) -> Path | None:
    """Histogram of (first trigger - reference time) per policy, with the median."""
    plt = pyplot()
    names = [n for n in source if source[n].get("delay", {}).get("n")]
    if not names:
        return None
    ncol = min(3, len(names))
    nrow = int(np.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
    for ax, name in zip(axes.flat, names):
        d = np.asarray(source[name]["delay"]["values"], dtype=float)
        med = source[name]["delay"]["median_days"]
        lo, hi = np.floor(min(d.min(), 0) - 0.5), np.ceil(max(d.max(), 0) + 0.5)
        ax.hist(d, bins=np.linspace(lo, hi, 31), color=COLORS["tp"], alpha=0.8)
        ax.axvline(med, color="k", ls="--", lw=1.2, label=f"median {med:+.2f} d")
        ax.axvline(0, color="gray", lw=0.8)
        ax.set_title(f"{name} (n = {len(d)})", fontsize=10)
        ax.set_xlabel("first trigger − reference time [days]")
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    return save(plt, fig, path)


def threshold_scan_figure(path: Path, scans: dict[str, list[dict[str, Any]]]) -> Path:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, rows in scans.items():
        t = [r["threshold"] for r in rows]
        c = [np.nan if r["completeness"] is None else r["completeness"] for r in rows]
        p = [np.nan if r["purity"] is None else r["purity"] for r in rows]
        line, = ax.plot(t, c, "-", label=f"{name} completeness")
        ax.plot(t, p, "--", color=line.get_color(), label=f"{name} purity")
    ax.set(xlabel="score threshold", ylabel="fraction of sources", ylim=(-0.02, 1.05),
           title="Source level vs threshold")
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=7, ncol=2)
    return save(plt, fig, path)
