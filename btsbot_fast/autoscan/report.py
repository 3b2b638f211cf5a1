"""The nightly summary of an autoscan run: ``summary.json`` and ``decisions.png`` in a folder.

``summary.json``: counts (rows, scored and failed alerts, new and already-seen alerts, sources, those
with a scored alert that passed the BTS candidate filter, the candidate mode, decisions per policy,
actions per kind and outcome, failures with their messages, dead letters in the state), and the
decision latency (triggering alert's jd -> decision time) for live decisions; an offline replay
has no meaningful latency, so it says so instead.

``decisions.png`` (matplotlib, the ``[report]`` extra): every scored alert's score against its time in the
night, the decisions marked at their triggering alerts, and the cumulative number of decisions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..plotting import REPORT_HINT, pyplot, require, save
from .runner import Autoscan, jd_to_unix, unix_to_utc

MPL_HINT = f"the decisions figure needs matplotlib: {REPORT_HINT}"


def require_matplotlib(option: str) -> None:
    """For a command to check before its run that it can write the report ``option`` asks for: an
    ImportError naming the option and the extra to install when matplotlib is missing."""
    require(option)


def summary(scan: Autoscan) -> dict[str, Any]:
    st = scan.stats
    actions: dict[str, dict[str, int]] = {}
    for (kind, state), n in sorted(st.actions.items()):
        actions.setdefault(kind, {})[state] = n
    lat = np.array(st.latencies, dtype=np.float64)
    latency: dict[str, Any]
    if len(lat):
        latency = {"n": int(len(lat)), "median_s": float(np.median(lat)), "p90_s": float(np.percentile(lat, 90)),
                   "max_s": float(lat.max())}
    else:
        latency = {"n": 0, "note": "no live decisions (an offline replay's alert times are not decision times)"}
    jd = np.array(st.alert_jd, dtype=np.float64)
    return {
        "policy": scan.policy.name,
        "candidates": scan.candidates,
        "dry_run": scan.dry_run,
        "live": scan.live,
        "night": {"first_jd": float(jd.min()), "last_jd": float(jd.max())} if len(jd) else None,
        "alerts": {"rows": st.rows, "scored": st.scored, "failed": st.failed, "unusable": st.unusable,
                   "new": st.new_alerts, "already_seen": st.duplicates},
        "sources": len(st.sources),
        "candidate_sources": len(st.candidate_sources),
        "decisions": dict(st.decisions),
        "actions": actions,
        "failures": {"actions_failed": st.actions_in("failed"),
                     "messages": dict(st.failure_messages.most_common(20))},
        "dead_letters_in_state": scan.store.dead_letter_count(),
        # not sent yet (a stream stopped while SkyPortal was down): the next run or --send-pending sends them
        "actions_queued_in_state": scan.store.open_action_count(),
        "actions_planned_late": dict(st.planned_late),
        # why sending stopped early (SkyPortal refused the token, or could not be reached), if it did
        "sending_stopped": st.auth_refused or st.unreachable,
        "latency": latency,
    }


def decisions_figure(scan: Autoscan, path: Path) -> Path:
    try:
        plt = pyplot()
    except ImportError as exc:
        raise ImportError(MPL_HINT) from exc
    st = scan.stats
    jd = np.array(st.alert_jd, dtype=np.float64)
    # hours from 0h UTC of the first alert's date (JD x.5): a Palomar night falls within about 3h-13h.
    # A run may have no new alert (a replay) or only resumed decisions: then their jd, else no time axis.
    times = jd if len(jd) else np.array([p[0] for p in st.decision_points], dtype=np.float64)
    t0 = float(np.floor(times.min() - 0.5) + 0.5) if len(times) else None
    if t0 is None:
        t0_text, axis_text = "-", "no new alerts in this run"
        t0 = 0.0
    else:
        utc = unix_to_utc(jd_to_unix(t0))
        t0_text, axis_text = f"{t0:.1f}", f"hours since JD {t0:.1f} (UTC {utc:%Y-%m-%d %H:%M})"
    hours = (jd - t0) * 24.0
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.scatter(hours, st.alert_score, s=4, c="0.6", label=f"scored alerts ({len(jd)})", rasterized=True)
    if st.decision_points:
        djd = np.array([p[0] for p in st.decision_points])
        ax.scatter((djd - t0) * 24.0, [p[1] for p in st.decision_points], s=40, marker="*", c="tab:red",
                   label=f"decisions ({len(djd)}), at the triggering alert")
        order = np.sort((djd - t0) * 24.0)
        ax2.step(order, np.arange(1, len(order) + 1), where="post", c="tab:red")
    ax.axhline(scan.policy.threshold, c="k", lw=0.8, ls="--", label=f"threshold {scan.policy.threshold:g}")
    ax.set_ylabel("score")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"autoscan {scan.policy.name}: decisions over the night (JD {t0_text} + hours)")
    ax.legend(loc="upper left", fontsize=8)
    ax2.set_ylabel("decisions")
    ax2.set_xlabel(axis_text)
    return save(plt, fig, path)


def write_report(scan: Autoscan, out_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Write ``summary.json`` and ``decisions.png`` into ``out_dir``; returns the summary."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = summary(scan)
    decisions_figure(scan, out / "decisions.png")
    data["figure"] = "decisions.png"
    (out / "summary.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return data


__all__ = ["require_matplotlib", "summary", "write_report"]
