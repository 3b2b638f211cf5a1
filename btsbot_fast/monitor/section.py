"""The monitor's section of the night page (``btsbot-fast report --state STATE``): the figures per policy,
the weekly purity, and the false positives, each linked to its ``show`` picture when the page has one."""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import MonitorConfig
from .figures import FIGURE3, WEEKLY, draw_all, safe_name
from .measure import delays_days
from .run import MonitorRun

FOLDER = "monitor"


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"


def monitor_section(run: MonitorRun, out_dir: str | Path, config: MonitorConfig, links: Mapping[str, str]) -> str:
    """Draw the figures into ``out_dir/monitor/`` and return the section's HTML. ``links``: object id -> the
    page's link to its show picture."""
    folder = Path(out_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    r = run.result
    delays = {p: delays_days(run.judge, p, run.window) for p in r["policies"]}
    draw_all(r, delays, folder, config.purity_threshold)
    notes = r["truth"]
    rows = []
    for policy, f in r["policies"].items():
        d = f["delays_days"]
        med = "n/a" if d["median"] is None else f"{d['median']:+.2f} d"
        rows.append(f"<tr><td>{_e(policy)}</td><td>{f['decided']}</td><td>{f['classified']}</td><td>{f['real']}</td>"
                    f"<td>{_pct(f['purity'])}</td><td>{f['bts_bright_decided']}/{f['bts_bright']}</td>"
                    f"<td>{_pct(f['completeness'])}</td><td>{med} (n = {d['n']})</td><td>{f['unclassified']}</td></tr>")
    table = ("<table><tr><th>policy</th><th>decided</th><th>classified</th><th>real</th><th>purity</th>"
             "<th>bright BTS decided</th><th>completeness</th><th>median delay</th><th>unclassified</th></tr>"
             + ("".join(rows) or '<tr><td colspan="9" class="muted">no decision in the state</td></tr>') + "</table>")
    figs = "".join(f'<img class="figure" src="{FOLDER}/{_e(FIGURE3.format(policy=safe_name(p)))}" '
                   f'alt="completeness, purity and delays of {_e(p)}" loading="lazy">' for p in r["policies"])
    mistakes = []
    for policy, f in r["policies"].items():
        for m in f["worst_mistakes"]:
            href = links.get(m["objectId"])
            name = f'<a href="{_e(href)}">{_e(m["objectId"])}</a>' if href else _e(m["objectId"])
            mistakes.append(f"<tr><td>{name}</td><td>{_e(policy)}</td><td>{_e(m['class'])}</td>"
                            f"<td>{m['score']:.4f}</td><td>{_e(m['candid'])}</td>"
                            f"<td>{'—' if m['peakmag'] is None else format(m['peakmag'], '.2f')}</td></tr>")
    fp = ("<h3>False positives (decided, classified, not real), highest score first</h3>"
          '<table class="mistakes"><tr><th>object</th><th>policy</th><th>class</th><th>score</th><th>candid</th>'
          "<th>peak mag</th></tr>" + "".join(mistakes) + "</table>") if mistakes else \
        '<p class="muted">no false positive among the classified decisions</p>'
    truth = (f"truth: {notes['classified']} classified of {notes['sources_with_truth']} sources known"
             + (f" (tables: {', '.join(_e(Path(p).name) for p in notes['files'])})" if notes["files"] else "")
             + ("; SkyPortal answers from the monitor's cache" if notes.get("skyportal_cache") else ""))
    return (f'<section id="monitor"><h2>Decisions against the truth ({_e(run.window.name)})</h2>'
            f'<p class="muted">{truth}. Purity = real / classified; completeness = decided / real BTS candidates '
            f"brighter than {r['bright_mag']:g} at peak; "
            f"delay = decision's alert − the scanners' save (&lt; 0: earlier).</p>"
            f"{table}{figs}"
            f'<img class="figure" src="{FOLDER}/{WEEKLY}" alt="purity per week" loading="lazy">{fp}</section>')


__all__ = ["FOLDER", "monitor_section"]
