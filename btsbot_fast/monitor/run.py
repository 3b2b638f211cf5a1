"""``monitor`` as a function: read the state, gather the truth, measure, write monitor.json, monitor.prom and
the figures."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..autoscan.state import safe_url
from .config import MonitorConfig
from .measure import DAY, LAST_30_NIGHTS, WINDOWS, Judge, Window, delays_days, measure
from .snapshot import Snapshot, read_snapshot
from .truth import Truth, merge_truth, read_truth

JSON_NAME = "monitor.json"


def windows_for(window: str | None, since: float | None, until: float | None,
                now: float) -> tuple[Window, list[Window]]:
    """The main window and the extra ones: ``--window night|week|month`` (before ``until``), or
    ``--since/--until``, or everything plus the last 30 nights."""
    end = until if until is not None else now
    if window is not None:
        return Window(window, end - WINDOWS[window], end), []
    if since is not None or until is not None:
        return Window("selected", since, until), []
    return Window("all", None, None), [Window(LAST_30_NIGHTS, now - 30 * DAY, None)]


@dataclass
class MonitorRun:
    result: dict[str, Any]
    judge: Judge
    window: Window
    files: list[Path]


def gather_truth(snapshot: Snapshot, config: MonitorConfig, *, cache: Path | None, token: str | None,
                 echo: Callable[[str], None]) -> tuple[dict[str, Truth], dict[str, Any]]:
    """SkyPortal's answers (through the cache) first, the truth tables over them."""
    notes: dict[str, Any] = {"files": [str(p) for p in config.truth]}
    from_sp: dict[str, Truth] = {}
    if config.skyportal is not None:
        from .skyportal import AnswerCache, fetch_truth

        sp = config.skyportal
        wanted = {d.object_id for d in snapshot.decisions} | set(snapshot.candidates)
        store = AnswerCache(cache, sp.url)
        try:
            from_sp, stats = fetch_truth(wanted, url=sp.url, token=token or "", cache=store,
                                         scanner_group_id=sp.scanner_group_id, timeout=sp.timeout,
                                         concurrency=sp.concurrency, rate=sp.rate, max_attempts=sp.max_attempts,
                                         refresh=sp.refresh)
        finally:
            store.close()
        notes["skyportal"] = {"url": sp.url, "scanner_group_id": sp.scanner_group_id, "cache": str(cache),
                              **vars(stats)}
        echo(f"monitor: SkyPortal: {stats.cached} sources cached, {stats.asked} asked, {stats.answered} answered "
             f"({stats.unknown} unknown there), {stats.unanswered} without an answer")
    tables = [read_truth(p) for p in config.truth]
    truth = merge_truth(from_sp, *tables)
    notes["sources_with_truth"] = len(truth)
    notes["classified"] = sum(1 for t in truth.values() if t.type)
    return truth, notes


def measure_state(state: str | os.PathLike[str], config: MonitorConfig, *, window: str | None = None,
                  since: float | None = None, until: float | None = None, cache: Path | None = None,
                  token: str | None = None, now: float | None = None,
                  echo: Callable[[str], None] = lambda s: None,
                  extra_truth: Sequence[Mapping[str, Truth]] = ()) -> MonitorRun:
    """Read ``state`` and measure its decisions against the truth (nothing written)."""
    now = time.time() if now is None else now
    snapshot = read_snapshot(state)
    truth, notes = gather_truth(snapshot, config, cache=cache, token=token, echo=echo)
    if extra_truth:
        truth = merge_truth(*extra_truth, truth)
    main, extra = windows_for(window, since, until, now)
    judge = Judge(snapshot, truth, config.classes, config.bright_mag)
    result = {"state": safe_url(os.fspath(state)),
              "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
              **measure(judge, main, extra), "truth": notes, "classes": list(config.classes.describe())}
    return MonitorRun(result, judge, main, [])


def write_outputs(run: MonitorRun, out_dir: str | os.PathLike[str], config: MonitorConfig,
                  figures: bool = True) -> list[Path]:
    """monitor.json, monitor.prom and (with ``figures``) the PNGs into ``out_dir``."""
    from .prom import write_prom

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / JSON_NAME
    tmp = path.with_name(f".{JSON_NAME}.tmp")
    tmp.write_text(json.dumps(run.result, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    files = [path, write_prom(run.result, out)]
    if figures:
        from .figures import draw_all

        delays = {p: delays_days(run.judge, p, run.window) for p in run.result["policies"]}
        files += draw_all(run.result, delays, out, config.purity_threshold)
    run.files = files
    return files


__all__ = ["JSON_NAME", "MonitorRun", "measure_state", "windows_for", "write_outputs"]
