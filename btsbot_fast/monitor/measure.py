"""The figures: purity, completeness and speed against the scanners, per policy and window.

Definitions (the BTSbot team's, applied to the decisions autoscan recorded live):

* ``decided``: sources the policy selected in the window (by decision time);
* ``classified``: of those, the ones with a truth class; ``unclassified`` the others (pending, not false);
* ``real``: classified ones whose class is a real extragalactic transient (:mod:`.classes`);
* ``purity`` = real / classified (null when nothing is classified);
* ``bts_bright``: sources the state saw as BTS candidates (first candidate alert recorded in the window)
  whose class is real and whose peak magnitude is <= 18.5 (the truth table's ``peakmag``; without one, the
  brightest ``magpsf`` among the state's alerts of the source); ``bts_bright_decided``: those the policy
  selected (by the window's end); ``completeness`` = bts_bright_decided / bts_bright (null when 0);
* ``delays_days``: per decided source the scanners saved, the triggering alert's jd minus the save time
  (negative: the bot was earlier), as ``{n, median, p10, p90}`` (linear percentiles; nulls when n = 0);
* ``false_positives``: ``{class: sources}`` of the decided, classified, not real ones; ``worst_mistakes``
  the highest-scored of them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..autoscan.state import DecisionRow
from .classes import ClassTable
from .snapshot import Snapshot
from .truth import Truth

BRIGHT_MAG = 18.5
#: peak-magnitude bins of the per-bin figures (the last takes everything fainter)
MAG_EDGES = (14.0, 15.0, 15.5, 16.0, 16.5, 17.0, 17.5, 18.0, 18.5, 19.0, 19.5, 20.5)
WORST_MISTAKES = 20
DAY = 86400.0
#: --window: seconds before --until
WINDOWS = {"night": DAY, "week": 7 * DAY, "month": 30 * DAY}
#: the window reported beside the main one by default
LAST_30_NIGHTS = "last_30_nights"


@dataclass(frozen=True)
class Window:
    name: str
    since: float | None  # Unix seconds, inclusive
    until: float | None  # exclusive

    def holds(self, t: float) -> bool:
        return (self.since is None or t >= self.since) and (self.until is None or t < self.until)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "since": _iso(self.since), "until": _iso(self.until)}


def _iso(t: float | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def delay_stats(delays: Sequence[float]) -> dict[str, Any]:
    if not delays:
        return {"n": 0, "median": None, "p10": None, "p90": None}
    d = np.asarray(delays, dtype=np.float64)
    return {"n": int(d.size), "median": float(np.median(d)), "p10": float(np.percentile(d, 10)),
            "p90": float(np.percentile(d, 90))}


class Judge:
    """Truth, classes and peak magnitudes for the sources of one snapshot."""

    def __init__(self, snapshot: Snapshot, truth: Mapping[str, Truth], classes: ClassTable,
                 bright_mag: float = BRIGHT_MAG):
        self.snapshot, self.truth, self.classes, self.bright_mag = snapshot, truth, classes, bright_mag

    def klass(self, oid: str) -> str | None:
        t = self.truth.get(oid)
        return t.type if t is not None else None

    def real(self, oid: str) -> bool | None:
        k = self.klass(oid)
        return None if k is None else self.classes.real(k)

    def peakmag(self, oid: str) -> float | None:
        t = self.truth.get(oid)
        if t is not None and t.peakmag is not None:
            return t.peakmag
        return self.snapshot.brightest.get(oid)

    def bts_bright(self, oid: str) -> bool:
        mag = self.peakmag(oid)
        return self.real(oid) is True and mag is not None and mag <= self.bright_mag


def policy_figures(judge: Judge, policy: str, window: Window) -> dict[str, Any]:
    """The issue's fields for one policy and window."""
    snap = judge.snapshot
    mine = [d for d in snap.decisions if d.policy == policy]
    decided = [d for d in mine if window.holds(d.decided_at)]
    classified = [d for d in decided if judge.klass(d.object_id) is not None]
    real = [d for d in classified if judge.real(d.object_id)]
    wrong = [d for d in classified if not judge.real(d.object_id)]
    selected_by_end = {d.object_id for d in mine if window.until is None or d.decided_at < window.until}
    bright = [oid for oid, (_, recorded) in snap.candidates.items() if window.holds(recorded) and judge.bts_bright(oid)]
    bright_decided = [oid for oid in bright if oid in selected_by_end]
    delays = delays_days(judge, policy, window)
    worst = sorted(wrong, key=lambda d: (-d.score, d.object_id))[:WORST_MISTAKES]
    return {
        "decided": len(decided), "classified": len(classified), "real": len(real),
        "purity": _ratio(len(real), len(classified)),
        "bts_bright": len(bright), "bts_bright_decided": len(bright_decided),
        "completeness": _ratio(len(bright_decided), len(bright)),
        "delays_days": delay_stats(delays),
        "false_positives": dict(sorted(Counter(judge.klass(d.object_id) for d in wrong).items())),
        "unclassified": len(decided) - len(classified),
        "worst_mistakes": [_mistake(judge, d) for d in worst],
    }


def delays_days(judge: Judge, policy: str, window: Window) -> list[float]:
    """Per decided source the scanners saved: the triggering alert's jd minus the save (days)."""
    out = []
    for d in judge.snapshot.decisions:
        t = judge.truth.get(d.object_id)
        if d.policy == policy and window.holds(d.decided_at) and t is not None and t.saved_jd is not None:
            out.append(d.jd - t.saved_jd)
    return out


def _mistake(judge: Judge, d: DecisionRow) -> dict[str, Any]:
    return {"objectId": d.object_id, "class": judge.klass(d.object_id), "score": d.score, "candid": d.candid,
            "jd": d.jd, "magpsf": d.magpsf, "peakmag": judge.peakmag(d.object_id), "decided_at": _iso(d.decided_at)}


def per_peakmag(judge: Judge, policy: str, window: Window, edges: Sequence[float] = MAG_EDGES) -> list[dict[str, Any]]:
    """Completeness and purity per peak-magnitude bin (the seed paper's Figure 3, left)."""
    snap = judge.snapshot
    mine = [d for d in snap.decisions if d.policy == policy]
    selected_by_end = {d.object_id for d in mine if window.until is None or d.decided_at < window.until}
    decided = [d.object_id for d in mine if window.holds(d.decided_at)]
    cands = [oid for oid, (_, rec) in snap.candidates.items() if window.holds(rec)]

    def bin_of(mag: float | None) -> int | None:
        if mag is None:
            return None
        i = int(np.searchsorted(edges, mag, side="right")) - 1
        return min(max(i, 0), len(edges) - 2)

    bins = [{"lo": edges[i], "hi": edges[i + 1], "bts_bright": 0, "bts_bright_decided": 0, "classified": 0,
             "real": 0} for i in range(len(edges) - 1)]
    for oid in cands:
        i = bin_of(judge.peakmag(oid))
        if i is not None and judge.bts_bright(oid):
            bins[i]["bts_bright"] += 1
            bins[i]["bts_bright_decided"] += oid in selected_by_end
    for oid in decided:
        i = bin_of(judge.peakmag(oid))
        if i is not None and judge.klass(oid) is not None:
            bins[i]["classified"] += 1
            bins[i]["real"] += bool(judge.real(oid))
    for b in bins:
        b["completeness"] = _ratio(b["bts_bright_decided"], b["bts_bright"])
        b["purity"] = _ratio(b["real"], b["classified"])
    return bins


def weekly_purity(judge: Judge, policy: str, until: float | None = None) -> list[dict[str, Any]]:
    """Purity per ISO week of decision time over the whole state (drift over the season)."""
    weeks: dict[tuple[int, int], list[DecisionRow]] = {}
    for d in judge.snapshot.decisions:
        if d.policy == policy and (until is None or d.decided_at < until):
            iso = dt.datetime.fromtimestamp(d.decided_at, dt.timezone.utc).isocalendar()
            weeks.setdefault((iso[0], iso[1]), []).append(d)
    out = []
    for (year, week), ds in sorted(weeks.items()):
        classified = [d for d in ds if judge.klass(d.object_id) is not None]
        real = sum(bool(judge.real(d.object_id)) for d in classified)
        start = dt.datetime.fromisocalendar(year, week, 1).date().isoformat()
        out.append({"week": f"{year}-W{week:02d}", "start": start, "decided": len(ds), "classified": len(classified),
                    "real": real, "purity": _ratio(real, len(classified))})
    return out


def action_counts(snapshot: Snapshot, policy: str) -> dict[str, int]:
    """``state -> actions`` of the policy's decisions (pending, sending, done, failed)."""
    return {s: n for (p, s), n in sorted(snapshot.actions.items()) if p == policy}


def measure(judge: Judge, window: Window, extra_windows: Sequence[Window] = ()) -> dict[str, Any]:
    """monitor.json's content (without the run's own notes)."""
    snapshot, classes, bright_mag = judge.snapshot, judge.classes, judge.bright_mag
    policies = snapshot.policies
    out: dict[str, Any] = {
        "window": window.as_dict(),
        "policies": {p: policy_figures(judge, p, window) for p in policies},
        "windows": {w.name: {"window": w.as_dict(), "policies": {p: policy_figures(judge, p, w) for p in policies}}
                    for w in extra_windows},
        "per_peakmag": {p: per_peakmag(judge, p, window) for p in policies},
        "weekly": {p: weekly_purity(judge, p, window.until) for p in policies},
        "actions": {p: action_counts(snapshot, p) for p in policies},
        "bright_mag": bright_mag,
    }
    out["unmapped_classes"] = sorted(classes.unmapped)
    return out


__all__ = ["BRIGHT_MAG", "LAST_30_NIGHTS", "MAG_EDGES", "WINDOWS", "Judge", "Window", "delay_stats", "delays_days",
           "measure", "per_peakmag", "policy_figures", "weekly_purity"]
