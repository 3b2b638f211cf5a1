"""The night page (``btsbot-fast report``): ``DIR/index.html`` plus its pictures, opened offline.

Score rows (what ``score`` writes, or alerts scored on the way) are grouped by source. The page has a
summary (alerts, sources, decisions per policy, failures by status, the score histogram), one table row
per source (``<tr data-object-id=...>``, sortable and filterable by the inlined page.js: rows are hidden,
never dropped) and one section per source (the ``show`` figure of its best alert, its score history over
the night, its alerts). Everything is in the folder: CSS and JS inline, pictures under ``alerts/``
(one figure and one thumbnail per alert, shared by every place that shows that alert).

Decisions: without a state, each source's decision is what the policy (``bts_p1`` by default) would
decide from the night's scores (btsbot_fast/policies.py); with ``--state``, the decision recorded in the
autoscan state and the state of its actions are shown instead (read through the state's Store API).
"""

from __future__ import annotations

import html
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..messages import plural
from ..policies import DEFAULT_POLICIES, Policy
from ..rows import ScoreResult
from .alert import score_text
from .figure import jd_utc

PAGE = "index.html"


@dataclass
class Source:
    object_id: str
    alerts: list[ScoreResult]  # in jd order (unknown jd last)
    decisions: dict[str, ScoreResult | None] = field(default_factory=dict)  # policy -> triggering alert
    stored: dict[str, Any] | None = None  # from the autoscan state: decision and actions
    figure: str = ""
    thumbnail: str = ""

    @property
    def scored(self) -> list[ScoreResult]:
        return [a for a in self.alerts if a.score is not None]

    @property
    def best(self) -> ScoreResult:
        """The best-scored alert (the latest alert when none was scored)."""
        scored = self.scored
        return max(scored, key=lambda a: a.score) if scored else self.alerts[-1]

    @property
    def best_score(self) -> float | None:
        return self.best.score

    @property
    def brightest(self) -> float | None:
        mags = [a.magpsf for a in self.alerts if a.magpsf is not None]
        return min(mags) if mags else None

    @property
    def candidate(self) -> bool | None:
        """A BTS candidate when any alert passed the BTS filter; None when no alert was judged."""
        verdicts = [a.bts_candidate for a in self.alerts if a.bts_candidate is not None]
        return any(verdicts) if verdicts else None


def group_sources(rows: Iterable[dict[str, Any]], policies: Sequence[Policy]) -> tuple[list[ScoreResult], list[Source]]:
    """Typed rows and the sources they make (rows without an objectId belong to no source). Each policy
    decides as autoscan does by default: on BTS candidates when the night's rows carry verdicts, on every
    source when none does (tables written before the filter)."""
    alerts = [ScoreResult.from_cells(r) for r in rows]
    on_candidates = any(a.bts_candidate is not None for a in alerts)
    by_object: dict[str, list[ScoreResult]] = {}
    for a in alerts:
        if a.objectId:
            by_object.setdefault(a.objectId, []).append(a)
    sources = []
    for oid, items in by_object.items():
        items.sort(key=lambda a: (a.jd is None, a.jd or 0.0, a.candid or 0))
        src = Source(oid, items)
        scored = [a for a in items if a.score is not None and a.jd is not None]
        scores = np.array([a.score for a in scored], dtype=np.float64)
        mags = np.array([np.nan if a.magpsf is None else a.magpsf for a in scored], dtype=np.float64)
        verdicts = np.array([a.bts_candidate is True for a in scored]) if on_candidates else None
        for p in policies:
            i = p.walk(scores, mags, verdicts=verdicts) if len(scored) else -1
            src.decisions[p.name] = scored[i] if i >= 0 else None
        sources.append(src)
    sources.sort(key=_rank_key(sources))
    return alerts, sources


def _rank_key(sources: Sequence[Source]):
    """The page's order, its rank column: best score first; sources with the same best score (many reach
    exactly 1, the most a float32 output can say) by their next best scores, then by more alerts; sources
    without a scored alert last."""
    longest = max((len(s.scored) for s in sources), default=0)

    def key(s: Source) -> tuple:
        scores = sorted((a.score for a in s.scored), reverse=True)
        return (not scores, tuple(-x for x in scores) + (0.0,) * (longest - len(scores)), -len(s.alerts), s.object_id)
    return key


def read_state(store: Any, sources: Sequence[Source], policies: Sequence[Policy]) -> None:
    """Each source's recorded decisions and actions, through the autoscan Store API."""
    for s in sources:
        decisions = {p.name: store.decision(s.object_id, p.name) for p in policies}
        s.stored = {"decisions": {k: v for k, v in decisions.items() if v is not None},
                    "actions": store.actions_of(s.object_id)}


# --- HTML ----------------------------------------------------------------------------------------

def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "—" if v is None else format(v, fmt)


def _score(v: float | None) -> str:
    return "—" if v is None else score_text(v)


def _attr(v: float | None) -> str:
    return "" if v is None else repr(float(v))


def _histogram_svg(scores: Sequence[float], bins: int = 20, width: int = 420, height: int = 140) -> str:
    counts, edges = np.histogram(np.asarray(scores, dtype=np.float64), bins=bins, range=(0.0, 1.0))
    top = max(int(counts.max()) if len(counts) else 0, 1)
    bw = (width - 40) / bins
    bars = []
    for i, c in enumerate(counts):
        h = (height - 30) * c / top
        bars.append(f'<rect x="{30 + i * bw:.1f}" y="{height - 18 - h:.1f}" width="{bw - 1:.1f}" height="{h:.1f}" '
                    f'fill="#26547C"><title>{edges[i]:.2f}–{edges[i + 1]:.2f}: {c}</title></rect>')
    axis = (f'<line x1="30" y1="{height - 18}" x2="{width - 10}" y2="{height - 18}" stroke="#333"/>'
            f'<text x="30" y="{height - 4}">0</text><text x="{width - 20}" y="{height - 4}">1</text>'
            f'<text x="{width / 2 - 15:.0f}" y="{height - 4}">score</text><text x="2" y="12">{top}</text>')
    return f'<svg width="{width}" height="{height}" role="img" aria-label="score histogram">{"".join(bars)}{axis}</svg>'


def _history_svg(src: Source, t0: float, threshold: float, width: int = 560, height: int = 150) -> str:
    """Score against hours since the night's first alert; the policy threshold dashed."""
    pts = [(a.jd, a.score) for a in src.scored if a.jd is not None]
    if not pts:
        return '<p class="muted">no scored alert</p>'
    hours = [(jd - t0) * 24.0 for jd, _ in pts]
    lo, hi = min(hours), max(hours)
    span = max(hi - lo, 1e-6)
    x = lambda h: 40 + (width - 60) * ((h - lo) / span if len(pts) > 1 else 0.5)  # noqa: E731
    y = lambda s: 10 + (height - 40) * (1.0 - s)  # noqa: E731
    line = " ".join(f"{x(h):.1f},{y(s):.1f}" for h, (_, s) in zip(hours, pts))
    dots = "".join(f'<circle cx="{x(h):.1f}" cy="{y(s):.1f}" r="3.5" fill="#26547C"><title>{h:.2f} h: {score_text(s)}'
                   f'</title></circle>' for h, (_, s) in zip(hours, pts))
    return (f'<svg width="{width}" height="{height}" role="img" aria-label="score history">'
            f'<line x1="40" y1="{y(threshold):.1f}" x2="{width - 20}" y2="{y(threshold):.1f}" stroke="#999" '
            f'stroke-dasharray="4 3"/><polyline points="{line}" fill="none" stroke="#26547C"/>{dots}'
            f'<text x="2" y="{y(1) + 4:.0f}">1</text><text x="2" y="{y(0) + 4:.0f}">0</text>'
            f'<text x="40" y="{height - 6}">{lo:+.2f} h</text>'
            f'<text x="{width - 70}" y="{height - 6}">{hi:+.2f} h</text>'
            f'<text x="{width / 2 - 80:.0f}" y="{height - 6}">hours since the night\'s first alert</text></svg>')


def _candidate_cell(v: bool | None) -> tuple[str, str]:
    return {True: ("yes", '<span class="yes">yes</span>'), False: ("no", '<span class="no">no</span>'),
            None: ("unknown", '<span class="muted">n/a</span>')}[v]


def _decision(src: Source, policy: Policy) -> tuple[str, str, str]:
    """(filter value, decision cell, actions cell) for the page's policy."""
    if src.stored is not None:
        d = src.stored["decisions"].get(policy.name)
        acts = ", ".join(f"{a['kind']}: {a['state']}" for a in src.stored["actions"]) or "—"
        if d is None:
            return "none", '<span class="muted">none</span>', _e(acts)
        return "selected", f"selected at {_e(d.candid)}" + (" (live)" if d.live else " (replay)"), _e(acts)
    trig = src.decisions.get(policy.name)
    if trig is None:
        return "none", '<span class="muted">none</span>', '<span class="muted">no state</span>'
    return "selected", f"selected at {_e(trig.candid)}", '<span class="muted">no state</span>'


def _alert_rows(src: Source, figures: dict[int | None, str]) -> str:
    out = []
    for a in src.alerts:
        bts = ((f"not judged ({a.bts_reject})" if a.bts_reject else "") if a.bts_candidate is None
               else "candidate" if a.bts_candidate else f"rejected: {a.bts_reject}")
        fig = figures.get(a.candid)
        link = f'<a href="{_e(fig)}">{_e(a.candid)}</a>' if fig else _e(a.candid)
        cls = "" if a.status == "ok" else ' class="failed"'
        out.append(f"<tr{cls}><td>{link}</td><td>{_e(jd_utc(a.jd))}</td><td>{_num(a.magpsf, '.2f')}</td>"
                   f"<td>{_e({1: 'g', 2: 'r', 3: 'i'}.get(a.fid, '?'))}</td><td>{_score(a.score)}</td>"
                   f"<td>{_e(a.status)}</td><td>{_e(bts)}</td><td>{_e(a.error)}</td></tr>")
    return "".join(out)


def render_page(alerts: Sequence[ScoreResult], sources: Sequence[Source], policy: Policy, policies: Sequence[Policy],
                figures: dict[int | None, str], title: str, notes: Sequence[str] = (), extra: str = "") -> str:
    """The whole index.html (CSS and JS inlined from the package); ``extra``: a section after the summary."""
    css = resources.files(__package__).joinpath("page.css").read_text(encoding="utf-8")
    js = resources.files(__package__).joinpath("page.js").read_text(encoding="utf-8")
    statuses = Counter(a.status for a in alerts)
    failures = {k: v for k, v in statuses.items() if k != "ok"}
    scores = [a.score for a in alerts if a.score is not None]
    jds = [a.jd for a in alerts if a.jd is not None]
    t0 = min(jds) if jds else 0.0
    no_id = sum(1 for a in alerts if not a.objectId)
    stored = any(s.stored is not None for s in sources)

    dec_rows = []
    for p in policies:
        would = sum(1 for s in sources if s.decisions.get(p.name) is not None)
        rec = sum(1 for s in sources if s.stored and p.name in s.stored["decisions"]) if stored else None
        dec_rows.append(f"<tr><td>{_e(p.name)}</td><td>{would}</td>" + (f"<td>{rec}</td>" if stored else "") + "</tr>")
    fail_rows = "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in sorted(failures.items())) or \
        '<tr><td colspan="2" class="muted">none</td></tr>'
    head = (f"<h1>{_e(title)}</h1>"
            f"<p>{plural(len(alerts), 'alert')}, {len(scores)} scored, {len(alerts) - len(scores)} failed; "
            f"{plural(len(sources), 'source')}"
            + (f"; {plural(no_id, 'row')} without an objectId" if no_id else "")
            + (f"; night {_e(jd_utc(min(jds)))} – {_e(jd_utc(max(jds)))}" if jds else "") + "</p>"
            + "".join(f'<p class="muted">{_e(n)}</p>' for n in notes))
    summary = (
        '<div class="summary">'
        '<div><h2>Decisions per policy</h2><table><tr><th>policy</th><th>from the scores</th>'
        + ("<th>in the state</th>" if stored else "") + f"</tr>{''.join(dec_rows)}</table></div>"
        f'<div><h2>Failures by status</h2><table><tr><th>status</th><th>alerts</th></tr>{fail_rows}</table></div>'
        f'<div><h2>Scores ({plural(len(scores), "alert")})</h2>{_histogram_svg(scores)}</div></div>')

    opts_dec = "".join(f'<option value="{v}">{t}</option>' for v, t in
                       (("all", "any"), ("selected", f"selected by {policy.name}"), ("none", "not selected")))
    opts_cand = "".join(f'<option value="{v}">{t}</option>' for v, t in
                        (("all", "any"), ("yes", "BTS candidate"), ("no", "not a candidate"),
                         ("unknown", "not judged")))
    filters = (f'<div class="filters"><label>decision <select id="f-decision">{opts_dec}</select></label>'
               f'<label>BTS <select id="f-candidate">{opts_cand}</select></label>'
               '<label>score from <input id="f-min" type="number" min="0" max="1" step="0.05" value="0"></label>'
               '<label>to <input id="f-max" type="number" min="0" max="1" step="0.05" value="1"></label>'
               '<span id="shown"></span></div>')
    cols = (("rank", "rank", "num"), ("object-id", "object", "str"), ("score", "best score", "num"),
            ("n", "alerts", "num"), ("mag", "brightest mag", "num"), ("candidate", "BTS candidate", "str"),
            ("decision", f"decision ({policy.name})", "str"), ("actions", "actions", "str"), ("", "best alert", ""))
    ths = "".join(f'<th data-key="{k}" data-type="{t}"{_HEAD_TIPS.get(k, "")}>{_e(label)}</th>' if k
                  else f"<th>{_e(label)}</th>" for k, label, t in cols)
    trs, sections = [], []
    for rank, s in enumerate(sources, 1):
        cand_value, cand_cell = _candidate_cell(s.candidate)
        dec_value, dec_cell, act_cell = _decision(s, policy)
        thumb = f'<img src="{_e(s.thumbnail)}" alt="triplet of {_e(s.best.candid)}">' if s.thumbnail else \
            '<span class="muted">no picture</span>'
        oid = _e(s.object_id)
        trs.append(f'<tr data-object-id="{oid}" data-rank="{rank}" data-score="{_attr(s.best_score)}" '
                   f'data-n="{len(s.alerts)}" '
                   f'data-mag="{_attr(s.brightest)}" data-candidate="{cand_value}" data-decision="{dec_value}" '
                   f'data-actions="{_e(html.unescape(re.sub("<[^>]+>", "", act_cell)))}">'
                   f'<td>{rank}</td><td><a href="#src-{oid}">{oid}</a></td><td>{_score(s.best_score)}</td>'
                   f'<td>{len(s.alerts)}</td><td>{_num(s.brightest, ".2f")}</td><td>{cand_cell}</td>'
                   f'<td>{dec_cell}</td><td>{act_cell}</td><td>{thumb}</td></tr>')
        fig = f'<img class="figure" src="{_e(s.figure)}" alt="show figure of {_e(s.best.candid)}" loading="lazy">' \
            if s.figure else '<p class="muted">no picture: the alert packet was not given (--alerts)</p>'
        sections.append(
            f'<section class="source" id="src-{oid}">'
            f'<h2>{oid} <a href="#top" class="muted">(back to the table)</a></h2>'
            f"<p>rank {rank}: best score {_score(s.best_score)} at candid {_e(s.best.candid)}; "
            f"{plural(len(s.alerts), 'alert')}; "
            f"BTS: {cand_cell}; decision ({_e(policy.name)}): {dec_cell}; actions: {act_cell}</p>{fig}"
            f"<h3>Score history</h3>{_history_svg(s, t0, policy.threshold)}"
            '<h3>Alerts</h3><table class="alerts"><tr><th>candid</th><th>date</th><th>magpsf</th><th>band</th>'
            f'<th>score</th><th>status</th><th>BTS filter</th><th>error</th></tr>{_alert_rows(s, figures)}</table>'
            "</section>")
    table = (_ties_note(sources)
             + f'<table id="sources"><thead><tr>{ths}</tr></thead><tbody>{"".join(trs)}</tbody></table>')
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head>'
            f'<body><div id="top"></div>{head}{summary}{extra}<h2>Sources</h2>{filters}{table}{"".join(sections)}'
            f"<script>{js}</script></body></html>\n")


_HEAD_TIPS = {
    "rank": ' title="by best score; the same best score: by the next best alerts, then by more alerts"',
    "score": ' title="the best alert\'s score: 4 decimals, 6 from 0.999 on (where the best sources differ)"',
}


def _ties_note(sources: Sequence[Source]) -> str:
    """Why sources with the same shown score have different ranks (a night has many at exactly 1)."""
    best = Counter(s.best_score for s in sources if s.best_score is not None)
    tied = sum(n for n in best.values() if n > 1)
    if not tied:
        return ""
    at_one = best.get(1.0, 0)
    ones = (f"; {plural(at_one, 'source')} reach exactly 1, the most the model's float32 output can say"
            if at_one > 1 else "")
    return (f'<p class="muted">rank: by best score; {plural(tied, "source")} share a best score with another{ones}: '
            "those are ordered by their next best alerts' scores, then by their number of alerts.</p>")


def write_page(out_dir: str | os.PathLike[str], text: str) -> Path:
    out = Path(out_dir) / PAGE
    tmp = out.with_name(f".{PAGE}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out


def parse_policies(names: Sequence[str]) -> list[Policy]:
    return [Policy.parse(n) for n in (names or DEFAULT_POLICIES)]


__all__ = ["PAGE", "Source", "group_sources", "parse_policies", "read_state", "render_page", "write_page"]
