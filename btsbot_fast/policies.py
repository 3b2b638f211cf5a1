"""Source-level selection policies: the one definition used by ``evaluate`` and ``autoscan``.

A policy looks at one source's alerts in ``jd`` order and says at which alert (if any) the source is
first selected. With ``t`` the score threshold (default 0.5, or 0.85 for ``prod_*``):

* ``gtN``     - at least N alerts that count (score above ``t``);
* ``bts_p1``  - at least 2 alerts that count with magpsf < 19 (the BTS save filter);
* ``bts_p2``  - ``bts_p1`` and the brightest (minimum) magpsf so far <= 18.5 (the trigger filter);
* ``prod_p1`` - at least 1 alert with score above 0.85 and magpsf < 19; ``prod_p2`` adds peak <= 18.5.

Any policy takes an explicit threshold as ``name@t`` (``gt1@0.3``, ``bts_p1@0.7``).

**The comparison rule** (stated here only): an alert counts when ``score > t``, as upstream's code
counts (``rint(score)`` for 0.5). ``evaluate --inclusive`` offers ``score >= t`` (the papers' wording);
the two differ only on exact ties. Every comparison goes through :func:`above`.

**Candidates** (``--candidates bts``, the default of ``autoscan``): BTS acts only on sources that pass
its candidate filter (the ``bts_candidate`` verdict of each alert). A source becomes a candidate at its
first alert, in jd order, whose verdict is true (unknown counts as false), and stays one. The trigger is
then the first alert at which the source is a candidate *and* the policy holds over all its alerts so
far; alerts before candidacy count towards the policy. ``candidates all`` makes every source a candidate
from its first alert (the policy alone). :meth:`Policy.walk` is the one place this is decided.

The trigger is the first alert, in jd order, at which the policy holds (on a candidate). Policies and
candidacy are monotone: adding an alert (even an older one, arriving late) never turns a selected source
back into an unselected one, so a decision once taken stays true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .rows.cells import parse_verdict

#: the default comparison: ``score > threshold`` (upstream's code)
STRICT = True
DEFAULT_POLICIES = ("gt1", "gt2", "gt3", "bts_p1", "bts_p2", "prod_p1", "prod_p2")
#: ``bts``: decide on BTS candidates only; ``all``: on every source (the policy alone)
CANDIDATE_MODES = ("bts", "all")
_POLICY_RE = re.compile(r"^(gt(?P<n>[1-9][0-9]*)|bts_p1|bts_p2|prod_p1|prod_p2)(@(?P<t>[0-9.eE+-]+))?$")


def candidacy(verdicts: np.ndarray) -> np.ndarray:
    """Whether the source is a candidate at each of its (jd-ordered) alerts: from its first alert whose
    verdict is true on."""
    return np.logical_or.accumulate(np.asarray(verdicts, dtype=bool))


def above(scores: np.ndarray, threshold: float, strict: bool = STRICT) -> np.ndarray:
    """Which scores count at ``threshold``: ``score > threshold`` (``>=`` when ``strict=False``)."""
    s = np.asarray(scores, dtype=np.float64)
    return s > threshold if strict else s >= threshold


@dataclass(frozen=True)
class Policy:
    name: str
    min_count: int
    threshold: float
    mag_limit: float | None = None  # counted alerts need magpsf < mag_limit
    peak_limit: float | None = None  # and the peak magpsf so far <= peak_limit

    @classmethod
    def parse(cls, spec: str, threshold: float | None = None) -> Policy:
        """``gt2``, ``bts_p1``, ``prod_p2@0.9`` ...; ``threshold`` replaces the default of a ``gtN`` or
        ``bts_*`` policy written without ``@`` (``prod_*`` keep 0.85)."""
        m = _POLICY_RE.match(spec.strip())
        if not m:
            raise ValueError(f"unknown policy {spec!r}: use gtN, bts_p1, bts_p2, prod_p1, prod_p2 (optionally @T)")
        base = m.group(1)
        t = m.group("t")
        if base.startswith("gt"):
            n, default, mag, peak = int(m.group("n")), 0.5, None, None
        elif base.startswith("bts"):
            n, default, mag, peak = 2, 0.5, 19.0, (18.5 if base.endswith("2") else None)
        else:
            n, default, mag, peak = 1, 0.85, 19.0, (18.5 if base.endswith("2") else None)
        if t is not None:
            thr = float(t)
        elif threshold is not None and base.startswith(("gt", "bts")):
            thr = float(threshold)
        else:
            thr = default
        if not 0.0 <= thr <= 1.0:
            raise ValueError(f"policy {spec!r}: the threshold must be within [0, 1]")
        name = spec.strip() if t is not None or threshold is None or thr == default else f"{base}@{thr:g}"
        return cls(name=name, min_count=n, threshold=thr, mag_limit=mag, peak_limit=peak)

    def counted(self, scores: np.ndarray, magpsf: np.ndarray, strict: bool = STRICT) -> np.ndarray:
        """Which alerts count towards ``min_count``."""
        ok = above(scores, self.threshold, strict)
        if self.mag_limit is not None:
            ok &= np.asarray(magpsf, dtype=np.float64) < self.mag_limit
        return ok

    def walk(self, scores: np.ndarray, magpsf: np.ndarray, strict: bool = STRICT,
             verdicts: np.ndarray | None = None) -> int:
        """Index (into the given, jd-ordered alerts) of the first alert at which the policy holds on a
        candidate; -1 if never. ``verdicts``: each alert's BTS filter verdict (true = passes; unknown =
        false); None decides on every source (``candidates all``)."""
        ok = self.counted(scores, magpsf, strict)
        passing = np.cumsum(ok) >= self.min_count
        if verdicts is not None:
            passing &= candidacy(verdicts)
        if self.peak_limit is not None:
            mags = np.asarray(magpsf, dtype=np.float64)
            # NaN (unknown magnitude) must not poison the running minimum
            peak = np.minimum.accumulate(np.where(np.isnan(mags), np.inf, mags))
            passing &= peak <= self.peak_limit
        hits = np.flatnonzero(passing)
        return int(hits[0]) if len(hits) else -1


__all__ = ["CANDIDATE_MODES", "DEFAULT_POLICIES", "Policy", "STRICT", "above", "candidacy", "parse_verdict"]
